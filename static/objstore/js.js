// Runs before the page is drawn (loaded without defer): the templates show their
// JavaScript-only controls, and hide their no-JavaScript fallbacks, under <html class="js">.
document.documentElement.classList.replace("no-js", "js");

// Runs every method of @replit/object-storage's Client against objstore (through the sidecar)
// and prints what each returned, as JSON, for tests/api/test_replit_node.py to check.
import { Client } from "@replit/object-storage";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";

const [workdir, otherBucket] = process.argv.slice(2);
const client = new Client();
const results = {};
const record = async (key, promise) => {
  const result = await promise;
  results[key] = result.ok ? { ok: true, value: result.value } : { ok: false, error: result.error };
};

const big = Buffer.alloc(21 * 1024 * 1024);
for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);

await record("uploadFromText", client.uploadFromText("docs/hello.txt", "hello from node"));
await record("downloadAsText", client.downloadAsText("docs/hello.txt"));
await record("uploadFromBytes", client.uploadFromBytes("bin/big.bin", big));
const bytes = await client.downloadAsBytes("bin/big.bin");
results.downloadAsBytes = { ok: bytes.ok, equal: bytes.ok && bytes.value[0].equals(big), isArray: Array.isArray(bytes.value) };
fs.writeFileSync(path.join(workdir, "local.json"), '{"from": "file"}');
await record("uploadFromFilename", client.uploadFromFilename("docs/data.json", path.join(workdir, "local.json")));
await record("downloadToFilename", client.downloadToFilename("docs/data.json", path.join(workdir, "down.json")));
results.downloadedFile = fs.readFileSync(path.join(workdir, "down.json"), "utf8");
await client.uploadFromStream("docs/streamed.txt", Readable.from([Buffer.from("streamed "), Buffer.from("body")]));
const chunks = [];
for await (const chunk of client.downloadAsStream("docs/streamed.txt")) chunks.push(chunk);
results.downloadAsStream = Buffer.concat(chunks).toString();
await record("listAll", client.list());
await record("listPrefix", client.list({ prefix: "docs/" }));
await record("listGlob", client.list({ matchGlob: "**.json" }));
await record("listOffsets", client.list({ startOffset: "bin/", endOffset: "docs/hello.txt" }));
await record("listMax", client.list({ maxResults: 2 }));
await record("existsYes", client.exists("docs/hello.txt"));
await record("existsNo", client.exists("docs/nope.txt"));
await record("copy", client.copy("docs/hello.txt", "docs/copy.txt"));
await record("downloadCopy", client.downloadAsText("docs/copy.txt"));
await record("delete", client.delete("docs/copy.txt"));
await record("deleteMissing", client.delete("docs/copy.txt"));
await record("deleteIgnore", client.delete("docs/copy.txt", { ignoreNotFound: true }));
await record("downloadMissing", client.downloadAsText("docs/copy.txt"));
const other = new Client({ bucketId: otherBucket });
await record("otherUpload", other.uploadFromText("in-other.txt", "other bucket"));
await record("otherDownload", other.downloadAsText("in-other.txt"));
console.log(JSON.stringify(results));

from django import forms

from .models import Bucket


class BucketCreateForm(forms.Form):
    name = forms.CharField(
        label="Bucket name",
        max_length=Bucket._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"placeholder": "e.g. photos", "autocomplete": "off"}),
    )


class BucketDeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the bucket name to confirm", max_length=100)

    def __init__(self, *args: object, bucket: Bucket, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = bucket

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value != self.bucket.name:
            raise forms.ValidationError(
                "That is not this bucket's name; nothing was deleted.", code="mismatch"
            )
        return value

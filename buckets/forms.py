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


DAY = 24 * 3600
MAX_SOFT_DELETE_DAYS = 90


class ProtectionForm(forms.Form):
    """What a bucket keeps when files are replaced or deleted: old versions (versioning) and
    deleted files for a number of days (soft delete)."""

    OFF, ON = "off", "on"

    versioning = forms.BooleanField(
        required=False,
        label="Keep old versions",
        help_text="Replacing or deleting a file keeps the previous version, until you delete it "
        "or a lifecycle rule does.",
        widget=forms.CheckboxInput(attrs={"role": "switch"}),
    )
    soft_delete = forms.ChoiceField(
        label="Soft delete",
        choices=[(OFF, "Off: deleted files are gone at once"), (ON, "Keep deleted files")],
        widget=forms.RadioSelect,
    )
    # Checked in clean(), and only with soft delete on: turning it off ignores the number.
    soft_delete_days = forms.IntegerField(
        label="Days to keep deleted files",
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_SOFT_DELETE_DAYS}),
    )

    def __init__(self, *args: object, bucket: Bucket, **kwargs: object) -> None:
        seconds = bucket.soft_delete_seconds
        kwargs["initial"] = {
            "versioning": bucket.versioning_enabled,
            "soft_delete": self.ON if seconds > 0 else self.OFF,
            # A retention set through the API need not be whole days; rounded up here, and only
            # saved if the user changes it (soft_delete_seconds).
            "soft_delete_days": max(1, -(-seconds // DAY)) if seconds > 0 else 7,
        }
        super().__init__(*args, **kwargs)
        self.bucket = bucket

    def clean(self) -> dict:
        data = super().clean()
        if data.get("soft_delete") != self.ON:
            self.errors.pop("soft_delete_days", None)  # "seven" is no error when it is unused
            return data
        days = data.get("soft_delete_days")
        if "soft_delete_days" not in self.errors and (
            days is None or not 1 <= days <= MAX_SOFT_DELETE_DAYS
        ):
            self.add_error(
                "soft_delete_days",
                forms.ValidationError(
                    f"Keep deleted files for 1 to {MAX_SOFT_DELETE_DAYS} days.",
                    code="soft_delete_days",
                ),
            )
        return data

    def soft_delete_seconds(self) -> int | None:
        """The new retention in seconds, or None when the form leaves it as it was."""
        if not {"soft_delete", "soft_delete_days"} & set(self.changed_data):
            return None
        if self.cleaned_data["soft_delete"] == self.OFF:
            return 0
        return self.cleaned_data["soft_delete_days"] * DAY


class LifecycleRuleForm(forms.Form):
    """One lifecycle rule put together without writing its JSON: what to do, and when."""

    DELETE_FILES = "delete-files"
    DELETE_OLD_VERSIONS = "delete-old-versions"
    ABORT_UPLOADS = "abort-uploads"

    action = forms.ChoiceField(
        label="Action",
        choices=[
            (DELETE_FILES, "Delete files"),
            (DELETE_OLD_VERSIONS, "Delete old versions"),
            (ABORT_UPLOADS, "Abort unfinished uploads"),
        ],
    )
    prefix = forms.CharField(
        label="Under folder",
        required=False,
        max_length=1024,
        strip=False,
        help_text="Names starting with this, e.g. logs/ (empty: the whole bucket).",
        widget=forms.TextInput(attrs={"placeholder": "logs/", "autocomplete": "off"}),
    )
    suffix = forms.CharField(
        label="Ending with",
        required=False,
        max_length=1024,
        strip=False,
        widget=forms.TextInput(attrs={"placeholder": ".tmp", "autocomplete": "off"}),
    )
    age = forms.IntegerField(
        label="Days after created",
        required=False,
        min_value=0,
        max_value=2**31 - 1,
    )
    newer_versions = forms.IntegerField(
        label="When this many newer versions exist",
        required=False,
        min_value=1,
        max_value=2**31 - 1,
    )
    noncurrent_days = forms.IntegerField(
        label="Days after becoming an old version",
        required=False,
        min_value=0,
        max_value=2**31 - 1,
    )

    _OLD_VERSIONS_ONLY = ("newer_versions", "noncurrent_days")

    def clean(self) -> dict:
        data = super().clean()
        action = data.get("action")
        if action is None:
            return data
        if action != self.DELETE_OLD_VERSIONS:
            for name in self._OLD_VERSIONS_ONLY:
                if data.get(name) is not None:
                    self.add_error(
                        name,
                        forms.ValidationError(
                            "Only old versions have newer versions and an old-version date: "
                            "choose “Delete old versions”, or leave this empty.",
                            code="old_versions_only",
                        ),
                    )
        if action in (self.DELETE_FILES, self.ABORT_UPLOADS) and data.get("age") is None:
            # Without a number of days the rule would act on everything it matches at once.
            self.add_error(
                "age",
                forms.ValidationError(
                    "Give the number of days after which it applies (0: at the next run).",
                    code="required",
                ),
            )
        if action == self.DELETE_OLD_VERSIONS and all(
            data.get(name) is None for name in ("age", *self._OLD_VERSIONS_ONLY)
        ):
            self.add_error(
                None,
                forms.ValidationError(
                    "Say when old versions are deleted: a number of days, or of newer versions.",
                    code="required",
                ),
            )
        return data

    def rule(self) -> dict:
        """The GCS lifecycle rule this form describes (objects.lifecycle validates it)."""
        data = self.cleaned_data
        condition: dict[str, object] = {}
        if data["action"] == self.ABORT_UPLOADS:
            action = {"type": "AbortIncompleteMultipartUpload"}
        else:
            action = {"type": "Delete"}
            condition["isLive"] = data["action"] == self.DELETE_FILES
        if data["age"] is not None:
            condition["age"] = data["age"]
        if data.get("newer_versions") is not None:
            condition["numNewerVersions"] = data["newer_versions"]
        if data.get("noncurrent_days") is not None:
            condition["daysSinceNoncurrentTime"] = data["noncurrent_days"]
        if data["prefix"]:
            condition["matchesPrefix"] = [data["prefix"]]
        if data["suffix"]:
            condition["matchesSuffix"] = [data["suffix"]]
        return {"action": action, "condition": condition}

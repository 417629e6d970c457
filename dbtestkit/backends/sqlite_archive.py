"""SQLite golden archives: the golden's file is the archive's one frame."""

from dbtestkit.backends.archive_format import frame


class FileArchives:
    """The archive hooks of the SQLite backend (``BackendBase.export_frames``, ``restore_frames``)."""

    def export_frames(self, fingerprint):
        """Return the golden's file as the one archive frame; its bytes are the digest's concern."""
        self._check_golden_unchanged(fingerprint, self.golden_path(fingerprint))
        return [frame("file", self.golden_path(fingerprint).read_bytes())], ""

    def restore_frames(self, build, frames):
        """Write the archived file over the build's empty file (its mode stays 0600)."""
        build.location.write_bytes(b"".join(data for tag, data in frames if tag == "file"))
        return ""

"""Small helpers shared by the fixture training scripts."""
import io
import zipfile

import numpy as np

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def savez_compressed_reproducible(path, **arrays):
    """np.savez_compressed, then rewrite the zip with fixed member timestamps.

    np.savez_compressed stamps every member with the current time, so re-running a
    script would change the file bytes (and churn git) even though the arrays are
    identical. The rewritten archive is an ordinary .npz (same members, deflate),
    readable by np.load and any .npz reader.
    """
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name), compresslevel=9)

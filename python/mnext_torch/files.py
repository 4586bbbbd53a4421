"""Atomic writes: a temporary file beside the target, then a rename, so a reader never sees half a file."""
import os
import tempfile


def write_atomic(path, write):
    """Calls write(binary file) on a temporary file in path's folder, then renames it to path."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f'.tmp-{os.path.basename(path)}-')
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_text_atomic(path, text):
    write_atomic(path, lambda f: f.write(text.encode()))

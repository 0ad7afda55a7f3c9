"""Container entrypoint: make the data directory writable, then run the command as `mlsprep`.

A platform mounts its volume over /data when the container starts, hiding the image's own
/data (made for `mlsprep`), and the mount is commonly owned by root (Railway's is). So the
container starts as root for this one step only: it gives the directory of DATABASE_PATH,
and what is directly in it, to the app user, drops to that user and replaces itself with the
command. Started as another user already (`docker run --user ...`), it only runs the
command.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

DEFAULT_COMMAND = ["python", "-m", "bot", "serve"]


def main(argv: list[str]) -> None:
    command = argv or DEFAULT_COMMAND
    if os.getuid() == 0:
        user = pwd.getpwnam(os.environ.get("MLSPREP_USER", "mlsprep"))
        data = Path(os.environ.get("DATABASE_PATH", "/data/mlsprep.db")).parent
        data.mkdir(parents=True, exist_ok=True)
        # Not recursive: the database, its -wal/-shm files and the embeddings cache sit
        # directly in this directory, and a large volume is not walked at every start.
        for path in [data, *data.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        os.environ["HOME"] = user.pw_dir
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

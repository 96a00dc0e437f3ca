# Run by the webapp role on the guest as `python3 -c <this file> [--check]` with a JSON spec on stdin:
#   {"dirs":  [{"path": ..., "owner": ..., "group": ..., "mode": "0750"}, ...],
#    "files": [{"path": ..., "content": ..., "owner": ..., "group": ..., "mode": "0644"}, ...]}
# Makes each folder and file exactly so (content, owner, group, mode; files replaced atomically by rename)
# and prints {"changed": [paths]}. One module run for all the role's units and scripts instead of one per
# file: each module run costs about half a second or more, even with pipelining.
import grp
import json
import os
import pwd
import sys
import tempfile

check = "--check" in sys.argv[1:]
spec = json.load(sys.stdin)
changed = []


def ids(entry):
    return pwd.getpwnam(entry.get("owner", "root")).pw_uid, grp.getgrnam(entry.get("group", "root")).gr_gid


def in_place(path, mode, uid, gid, content=None):
    """True when path is already a folder (content None) or a file with this content, mode and owner."""
    try:
        st = os.stat(path)
        if content is None:
            if not os.path.isdir(path):
                return False
        else:
            with open(path, "rb") as handle:
                if handle.read() != content:
                    return False
    except FileNotFoundError:
        return False
    return (st.st_mode & 0o7777) == mode and (st.st_uid, st.st_gid) == (uid, gid)


for entry in spec.get("dirs", []):
    path, mode = entry["path"], int(entry["mode"], 8)
    uid, gid = ids(entry)
    if in_place(path, mode, uid, gid):
        continue
    changed.append(path)
    if not check:
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)

for entry in spec.get("files", []):
    path, mode = entry["path"], int(entry["mode"], 8)
    content = entry["content"].encode("utf-8")
    uid, gid = ids(entry)
    if in_place(path, mode, uid, gid, content):
        continue
    changed.append(path)
    if not check:
        folder = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ansible-")
        try:
            os.write(fd, content)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)

print(json.dumps({"changed": changed}))

"""Podman guests entered with nsenter, for the molecule guests only.

`podman exec` costs about 150 ms of podman's own start-up per call, which made the idempotence
re-run measure podman rather than the playbook. Production reaches its guests over SSH with
pipelining and a persistent control connection, where a task costs one module run and a few
milliseconds of transport. This plugin gives the test guests the same shape: podman is asked once
per task for the guest's init PID (about 40 ms), then the module runs through `nsenter` into every
namespace of that guest (its filesystem, network, PID, UTS and IPC), with the guest's own PATH, as
root, the way the playbook runs in production. Files go through the same channel (stdin/stdout),
so the guest's view of paths and symbolic links applies.

A task that sets `ansible_user` to anyone but root falls back to `podman exec --user`.
"""

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible.utils.display import Display
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
    name: tsunagu_podman
    short_description: nsenter into podman guests, with pipelining (molecule guests)
    description:
        - Runs modules in a running podman container through nsenter, with stdin, so one task is one
          process in the guest (as SSH with pipelining in production).
    options:
      remote_addr:
        description: The container's name or ID.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User to run commands as inside the container.
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to the podman command line.
        default: ''
        vars:
          - name: ansible_podman_extra_args
      podman_executable:
        description: Executable for podman.
        default: podman
        vars:
          - name: ansible_podman_executable
"""

display = Display()

# what `podman exec` gives a command in these guests
GUEST_ENVIRONMENT = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "TERM=xterm",
    "container=podman",
)


class Connection(PodmanConnection):
    transport = "tsunagu_podman"
    has_pipelining = True

    def _connect(self):
        if not self._as_root():
            return super()._connect()
        ConnectionBase._connect(self)
        rc, stdout, stderr = self._podman(["container", "inspect", "--format", "{{.State.Pid}}"])
        guest_pid = to_text(stdout).strip()
        if rc != 0 or not guest_pid.isdigit() or guest_pid == "0":
            raise AnsibleConnectionFailure(f"guest {self._container_id} is not running: {to_text(stderr).strip()}")
        self._guest_pid = guest_pid
        self._connected = True
        return self

    def _as_root(self):
        return self.user in (None, "", "root")

    def _in_guest(self, argv, in_data=None):
        """Run argv inside the guest's namespaces; returns (rc, stdout, stderr)."""
        command = ["nsenter", "--target", self._guest_pid, "--all", "--", "env", "-i", *GUEST_ENVIRONMENT, *argv]
        display.vvv(f"NSENTER {command}", host=self._container_id)
        command = [to_bytes(part, errors="surrogate_or_strict") for part in command]
        process = subprocess.Popen(  # noqa: S603 -- argv list, no shell; the guest runs what Ansible sends
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout, stderr = process.communicate(input=in_data)
        return process.returncode, stdout, stderr

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        command = shlex.split(cmd if isinstance(cmd, str) else cmd.decode())
        if self._as_root():
            return self._in_guest(command, in_data)
        exec_args = ["exec", "-i", "--user", self.user] if in_data else ["exec", "--user", self.user]
        return self._podman(exec_args, command, in_data)

    @ensure_connect
    def put_file(self, in_path, out_path):
        if not self._as_root():
            return super().put_file(in_path, out_path)
        ConnectionBase.put_file(self, in_path, out_path)
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
            content = source.read()
        rc, _, stderr = self._in_guest(["/bin/sh", "-c", 'cat > "$1"', "put_file", out_path], content)
        if rc != 0:
            raise AnsibleError(f"could not write {out_path} in guest {self._container_id}: {to_text(stderr)}")

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        if not self._as_root():
            return super().fetch_file(in_path, out_path)
        ConnectionBase.fetch_file(self, in_path, out_path)
        rc, content, stderr = self._in_guest(["cat", "--", in_path])
        if rc != 0:
            raise AnsibleError(f"could not read {in_path} in guest {self._container_id}: {to_text(stderr)}")
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as target:
            target.write(content)

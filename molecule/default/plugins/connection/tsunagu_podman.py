"""Podman connection with pipelining, for the molecule guests only.

The collection's podman connection turns pipelining off because `podman exec` without `-i`
drops stdin. Passing `-i` when there is input makes one `podman exec` per task instead of four
(mkdir, chmod, run, rm), which is what SSH with `pipelining = true` gives production.
"""

import shlex

from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
    name: tsunagu_podman
    short_description: podman exec with pipelining (molecule guests)
    description:
        - The containers.podman.podman connection, with stdin passed to C(podman exec -i).
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


class Connection(PodmanConnection):
    transport = "tsunagu_podman"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "-i"] if in_data else ["exec"]
        if self.user:
            exec_args += ["--user", self.user]
        command = cmd if isinstance(cmd, str) else cmd.decode()
        return self._podman(exec_args, shlex.split(command), in_data)

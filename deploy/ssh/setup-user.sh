#!/bin/sh
# Image set-up (deploy/Dockerfile, deploy/Dockerfile.cuda): the unprivileged user ftl (uid 1000)
# that every container runs as, and ssh for a Kubeflow MPIJob as that user, as mpi-operator's own
# images do: the operator mounts the job's generated key pair at /home/ftl/.ssh (the MPIJob's
# sshAuthMountPath); each worker pod runs `sshd -De -f /home/ftl/.sshd_config` on port 2222 with
# that key as its host key; the launcher's mpirun reaches it without host-key prompts.
set -eu
useradd --create-home --uid 1000 --user-group --shell /bin/bash ftl
usermod -p '*' ftl  # no password, but not locked: key logins work
install -o ftl -g ftl -m 0644 /opt/ftl/share/ssh/sshd_config /home/ftl/.sshd_config
# The client side (mpirun's ssh): port 2222, no known-hosts file to write (.ssh is a read-only
# Secret), no prompts for the pods' changing host keys.
cat >> /etc/ssh/ssh_config <<'CONFIG'
Host *
    Port 2222
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
CONFIG

"""
The salt-ssh harness itself: a real sshd on 127.0.0.1, salt-ssh of the Salt
under test deploying its thin into the target's own thin_dir, which the
master side cannot see, and the sshd gone after stop.
"""

import socket

import pytest

pytestmark = pytest.mark.integration


def test_salt_ssh_reaches_a_target_through_a_real_sshd(salt_ssh, sshd):
    ping = salt_ssh.ssh("main", "test.ping")
    assert ping.returncode == 0, ping
    assert ping.data is True, ping
    thin_version = salt_ssh.thin_dir("main") / "version"
    deployed = sshd.ssh(f"stat -c '%i %.9Z' {thin_version}")
    assert deployed.returncode == 0, deployed
    assert not thin_version.exists()  # on the target side only
    assert sshd.ssh(f"test -e {salt_ssh.config_dir / 'master'}").returncode == 1  # on the master side only
    sessions = sshd.sessions()
    assert sessions >= 1

    grain = salt_ssh.ssh("main", "grains.get", "id")
    assert grain.data == "main", grain
    # The second call reuses the thin deployed by the first; portal has none yet.
    assert sshd.ssh(f"stat -c '%i %.9Z' {thin_version}").stdout == deployed.stdout
    assert sshd.ssh(f"test -e {salt_ssh.thin_dir('portal')}").returncode == 1
    assert sshd.sessions() > sessions

    sshd.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((sshd.host, sshd.port), timeout=5):
        pass

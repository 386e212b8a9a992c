"""Debian's baresip as an independent SIP peer in tests: a configuration folder for it.

baresip plays ``say.wav`` of the folder as its microphone and, with its ``sndfile`` module,
writes what it heard and sent to ``dump-*-dec.wav`` / ``dump-*-enc.wav`` there."""

from __future__ import annotations

import shutil
from pathlib import Path

CONFIG = """\
poll_method\tepoll
sip_listen\t127.0.0.1:{port}
{tls}
audio_source\taufile,{folder}/say.wav
audio_player\taubridge,nil
audio_alert\taufile,/dev/null
module_path\t/usr/lib/baresip/modules
module\tstdio.so
module\tg711.so
module\taufile.so
module\tsndfile.so
{srtp}module\taccount.so
module\tmenu.so
snd_path\t{folder}
"""


def configure(folder: Path, account: str, *, port: int = 0, tls: str = "") -> str:
    """Write baresip's ``config`` and ``accounts`` (one ``account`` line) into ``folder``, which
    holds its ``say.wav``; the binary to run with ``-f folder``. ``tls``: a TLS setting line
    (``sip_certificate`` or ``sip_cafile``), which loads the SRTP module too; baresip then takes
    TLS on ``port`` + 1."""
    baresip = shutil.which("baresip")
    assert baresip is not None, "baresip is not installed (setup.sh installs it)"
    (folder / "config").write_text(CONFIG.format(
        port=port, tls=tls, folder=folder, srtp="module\tsrtp.so\n" if tls else ""))
    (folder / "accounts").write_text(account + "\n")
    return baresip

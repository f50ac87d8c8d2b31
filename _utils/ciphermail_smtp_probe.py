"""
A look at an SMTP service from outside, as the main gateway's Postfix would
make it: connect, read the banner, ``EHLO``, ``QUIT``. No mail is sent.
Every failure is reported in words, not raised. Plain Python (``smtplib``
and ``socket``, no Salt loader), imported by ``_modules/ciphermail_mta.py``
for ``smtp_check``.
"""

import smtplib
import socket


def _reply_text(message):
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _failure(exc):
    """What went wrong, in words: smtplib reports a timeout or reset as "Connection unexpectedly closed: ..."."""
    cause = exc.__context__ if isinstance(exc, smtplib.SMTPServerDisconnected) else None
    return str(cause if isinstance(cause, OSError) else exc) or type(exc).__name__


def probe(host, port, timeout, helo):
    """Connect, read the banner, EHLO, QUIT; every failure goes into ``error``."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    report = {"connected": False, "banner": None, "ehlo_code": None, "ehlo_extensions": [], "error": None}
    client = smtplib.SMTP(local_hostname=helo, timeout=timeout)
    step = f"cannot connect to {where}"
    try:
        # Connect apart from smtplib, so the report tells "no connection" from "no banner".
        client.sock = socket.create_connection((host, port), timeout)
        report["connected"] = True
        step = f"no SMTP banner from {where}"
        code, message = client.getreply()
        report["banner"] = f"{code} {_reply_text(message)}"
        if code != 220:
            report["error"] = f"{where} does not offer SMTP service: {report['banner']}"
            return report
        step = f"no answer to EHLO from {where}"
        code, message = client.ehlo()
        report["ehlo_code"] = code
        lines = _reply_text(message).splitlines()
        if code != 250:
            report["error"] = f"{where} refused EHLO {helo}: {code} {' '.join(lines)}"
            return report
        report["ehlo_extensions"] = lines[1:]
        step = None
        client.quit()
    except (OSError, smtplib.SMTPException) as exc:
        if step is not None:  # a failing QUIT after a good EHLO does not matter
            report["error"] = f"{step}: {_failure(exc)}"
    finally:
        client.close()
    return report

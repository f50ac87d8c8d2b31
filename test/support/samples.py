"""Sample texts several test tiers use."""

#: The six portal-gateway commands of the vendor's page, exactly as printed there.
VENDOR_PORTAL_COMMANDS = """\
ciphermail-cli domain add --domain relay-to-webmail.private
ciphermail-cli property domain set --domain relay-to-webmail.private --name revert-rewrite-recipient --value true
ciphermail-cli property global set --name trigger-webmail-header --value "X-Keep-CipherMail-To-Webmail: True"
ciphermail-cli property global set --name trigger-webmail-header-enabled --value true
ciphermail-cli property global set --name trigger-otp-encryption-header --value "X-Keep-CipherMail-To-PDF-OTP: True"
ciphermail-cli property global set --name trigger-otp-encryption-header-enabled --value true
"""

#: A main.cf whose mynetworks spreads over continuation lines, with a
#: $parameter reference, a comment inside and a lookup table.
SPREAD_OUT_MAIN_CF = """\
compatibility_level = 3.6
my_extra = 10.1.0.0/16
mynetworks = 127.0.0.0/8,
    [::1]/128 $my_extra
    # the office
    192.0.2.0/24, hash:/etc/postfix/network_table
relayhost =
"""

#: The main role's override and playbook, as SLS text (functional tier).
MAIN_ROLE_SLS = """
override:
  ciphermail_ansible.override_keys_present:
    - values:
        ciphermail_backend__remote_portal_enabled: true
playbook:
  ciphermail_ansible.playbook_applied:
    - watch:
      - ciphermail_ansible: override
"""

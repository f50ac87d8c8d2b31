"""Values of the vendor page and the test pillars, shared by the test tiers."""

DOMAIN = "relay-to-webmail.private"
OVERRIDE_KEY = "ciphermail_backend__remote_portal_enabled"
OVERRIDE_FILE = "ciphermail-split-mode.yml"

#: The header triggers the portal role sets, as the vendor page gives them.
TRIGGERS = {
    "trigger-webmail-header": "X-Keep-CipherMail-To-Webmail: True",
    "trigger-webmail-header-enabled": "true",
    "trigger-otp-encryption-header": "X-Keep-CipherMail-To-PDF-OTP: True",
    "trigger-otp-encryption-header-enabled": "true",
}

#: A credential ciphermail-cli needs (lookup:command_env); the simulator
#: refuses it without it when CIPHERMAIL_SIM_PASSWORD holds it.
SECRET = "s3cret-Pa55word-9f1c"
CREDENTIAL = {"lookup": {"command_env": {"CIPHERMAIL_CLI_PASSWORD": SECRET}}}

MAIN_GATEWAY_ADDRESS = "192.0.2.10"
PORTAL_SERVER = "portal.dmz.example.net"
MAIN_PILLAR = {"role": "main", "portal_server": PORTAL_SERVER}
PORTAL_PILLAR = {"role": "portal", "main_gateway_addresses": [MAIN_GATEWAY_ADDRESS]}

#: mynetworks of a fresh sandbox (support.sandbox.BASE_MAIN_CF).
BASE_MYNETWORKS = ["127.0.0.0/8", "[::ffff:127.0.0.0]/104", "[::1]/128"]

#: ``lookup:cli_commands`` for a gateway whose CLI speaks another grammar
#: (the simulator's ``CIPHERMAIL_SIM_GRAMMAR=scoped``): every row replaced.
SCOPED_COMMANDS = {
    "domain_list": ["domains", "list"],
    "domain_add": ["domains", "create", "--domain", "{domain}"],
    "domain_delete": ["domains", "remove", "--domain", "{domain}"],
    "domain_property_get": ["property", "get", "--scope", "domain", "--domain", "{domain}", "--name", "{name}"],
    "domain_property_set": [
        "property", "set", "--scope", "domain", "--domain", "{domain}", "--name", "{name}", "--value", "{value}",
    ],
    "global_property_get": ["property", "get", "--scope", "global", "--name", "{name}"],
    "global_property_set": ["property", "set", "--scope", "global", "--name", "{name}", "--value", "{value}"],
}  # fmt: skip

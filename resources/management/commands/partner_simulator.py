"""`manage.py partner_simulator`: another service's CAD, for the demo and tests.

    manage.py partner_simulator [--host 127.0.0.1] [--port 8766] [--agency las.sim.example]
                                [--name NAME] [--kind ems] [--username las_cad]
                                [--beacon http://127.0.0.1:8000] [--reply-delay 5]

Receives our EIDO documents on http://HOST:PORT/ (point a PartnerAgency's endpoint there),
acknowledges each, and answers a new incident with an update to Beacon's
/api/v1/eido/inbound/ as the partner's account (role partner_agency): with the API token in
PARTNER_SIMULATOR_TOKEN, or else signed in as --username with the password in
PARTNER_SIMULATOR_PASSWORD. Never touches the database. Stops on Ctrl-C/SIGTERM.
`make run` starts two, for the demo's LAS and LFB (docs/partners.md).
"""

import os

from django.core.management.base import BaseCommand, CommandError

from resources.partners.simulator import PartnerConfig, serve


class Command(BaseCommand):
    help = "Run a simulated partner agency CAD that receives EIDO documents and answers back."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8766)
        parser.add_argument("--agency", default="las.sim.example", help="its EIDO agency id")
        parser.add_argument("--name", default="London Ambulance Service (simulated)")
        parser.add_argument("--kind", default="ems", choices=["ems", "fire", "police"],
                            help="its EIDO agencyType")  # fmt: skip
        parser.add_argument("--username", default="",
                            help="the partner account to sign in as (password in "
                                 "PARTNER_SIMULATOR_PASSWORD), when no token is given")  # fmt: skip
        parser.add_argument("--beacon", default="http://127.0.0.1:8000", help="Beacon's URL")
        parser.add_argument("--reply-delay", type=float, default=5.0,
                            help="seconds before it answers a new incident")  # fmt: skip

    def handle(self, *args, host, port, agency, name, kind, username, beacon, reply_delay,
               **options):  # fmt: skip
        if reply_delay < 0:
            raise CommandError("--reply-delay must not be negative")
        config = PartnerConfig(
            agency_id=agency, name=name, beacon_url=beacon, reply_delay=reply_delay,
            token=os.environ.get("PARTNER_SIMULATOR_TOKEN", ""), agency_type=kind,
            username=username, password=os.environ.get("PARTNER_SIMULATOR_PASSWORD", ""),
            inbound_token=os.environ.get("PARTNER_SIMULATOR_INBOUND_TOKEN", ""),
        )  # fmt: skip
        if not config.token and not (config.username and config.password):
            self.stderr.write(
                "Neither PARTNER_SIMULATOR_TOKEN nor --username with "
                "PARTNER_SIMULATOR_PASSWORD is set: updates back will be refused."
            )
        server = serve(host, port, config)
        self.stdout.write(f"partner simulator {agency} on http://{host}:{port}/ → {beacon}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

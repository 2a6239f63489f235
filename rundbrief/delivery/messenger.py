"""SmtpMessenger: the Messenger (protocols.py) on compiled campaigns and pooled SMTP connections.

One lane per SMTP connection: the worker runs a sender thread per lane, and each connection
belongs to one transport of DELIVERY_SMTP_URLS (its rate limits, its from_domain). A campaign is
compiled once, on first use, in the worker's main loop; per recipient only the links are
substituted and the message signed (compose.py over outbound/message.py).
"""

from django.conf import settings

from rundbrief.campaigns.models import Campaign
from rundbrief.delivery.compose import compile_campaign
from rundbrief.delivery.ratelimit import transport_limits
from rundbrief.outbound.smtp import Connection, SmtpConnection
from rundbrief.outbound.transport import delivery_transports


def build_connections(concurrency):
    """Spread `concurrency` sender threads over the transports, each up to its max_connections."""
    transports = delivery_transports(settings.DELIVERY_SMTP_URLS)
    # One set of limits per transport, shared by its connections (global across workers: ratelimit.py).
    limits = {t.name: transport_limits(t.limit_key, t.per_second, t.per_hour) for t in transports}
    connections, used = [], {t.name: 0 for t in transports}
    while len(connections) < concurrency:
        free = [t for t in transports if used[t.name] < t.max_connections]
        if not free:
            break
        for transport in free:  # round-robin
            if len(connections) < concurrency:
                connections.append(SmtpConnection(transport, limits=limits[transport.name]))
                used[transport.name] += 1
    return connections


class SmtpMessenger:
    def __init__(self, connections: list[Connection], compile=compile_campaign):
        self.connections = list(connections)
        self.compile = compile
        self._compiled = {}  # campaign id → compose.CampaignMessage

    @classmethod
    def from_settings(cls, concurrency):
        """`concurrency` connections over the transports of DELIVERY_SMTP_URLS."""
        return cls(build_connections(concurrency))

    def compiled(self, campaign_id):
        if campaign_id not in self._compiled:
            self._compiled[campaign_id] = self.compile(Campaign.objects.get(pk=campaign_id))
        return self._compiled[campaign_id]

    def lanes(self):
        return [conn.transport.from_domain for conn in self.connections]

    def limits(self, lane):
        return self.connections[lane].limits

    def from_domain(self, campaign_id):
        return self.compiled(campaign_id).from_domain

    def build(self, claimed):
        return self.compiled(claimed.campaign_id).build(claimed)

    def send(self, lane, message, before_transaction):
        return self.connections[lane].send(message.envelope_from, message.recipient, message.data, before_transaction)

    def close(self, lane):
        self.connections[lane].close()

"""Builders for bounce tests: DSNs and ARF reports about real deliveries, in the shapes MTAs produce."""

from django.utils import timezone

from rundbrief.delivery.models import Delivery
from rundbrief.outbound import verp

DOMAIN = "musterhaus.example"


def mark_sent(campaign):
    Delivery.objects.filter(campaign=campaign).update(state=Delivery.State.SENT, sent_at=timezone.now())
    return list(Delivery.objects.filter(campaign=campaign).select_related("subscriber").order_by("pk"))


def dsn(delivery, *, status="5.1.1", action="failed", diagnostic="550 5.1.1 user unknown"):
    """A Postfix-shaped RFC 3464 report about one delivery, addressed to its VERP return path."""
    address = delivery.subscriber.email if delivery.subscriber else "gone@example.org"
    return (
        f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {verp.return_path(delivery.pk, DOMAIN)}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="rb-b"\r\n\r\n'
        f"--rb-b\r\nContent-Type: text/plain\r\n\r\n<{address}>: host mx.example.net said: {diagnostic}\r\n\r\n"
        "--rb-b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--rb-b--\r\n"
    ).encode()


def arf(delivery, *, feedback_type="abuse"):
    """An RFC 5965 report whose provider redacted the recipient; only our Message-ID names the delivery."""
    message_id = verp.message_id(delivery.campaign_id, delivery.pk, DOMAIN)
    return (
        "From: feedback@fbl.example.com\r\nTo: fbl@musterhaus.example\r\nSubject: Abuse report\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n\r\n'
        "--arf\r\nContent-Type: text/plain\r\n\r\nA user reported this message as spam.\r\n\r\n"
        f"--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: {feedback_type}\r\n"
        "User-Agent: ExampleFBL/1.0\r\nVersion: 1\r\n\r\n"
        "--arf\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: newsletter@musterhaus.example\r\n"
        f"To: redacted@example.com\r\nMessage-ID: {message_id}\r\n\r\n--arf--\r\n"
    ).encode()

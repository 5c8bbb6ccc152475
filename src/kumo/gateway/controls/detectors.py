"""The detectors behind kumo's predefined DLP profiles. Each entry finds spans of text; where a well-kept library
knows the format it decides (python-stdnum checksums, phonenumbers, detect-secrets' plugins); the regular
expressions here only pick candidates. Adding an entry = one function + one line in PROFILES."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.ca import sin
from stdnum.es import dni
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.us import ssn

Span = tuple[int, int]
Find = Callable[[str], Iterator[Span]]


@dataclass(frozen=True)
class Entry:
    id: str
    name: str
    find: Find


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    entries: tuple[Entry, ...]


def matches(regex: re.Pattern[str]) -> Find:
    """Every match of a regular expression (a custom profile's entry)."""
    def find(text: str) -> Iterator[Span]:
        return (m.span() for m in regex.finditer(text))
    return find


def checked(pattern: str, valid: Callable[[str], bool], flags: int = 0) -> Find:
    """Candidates by a regular expression, kept when the library's validator accepts them."""
    regex = re.compile(pattern, flags)

    def find(text: str) -> Iterator[Span]:
        for m in regex.finditer(text):
            if valid(m.group(0)):
                yield m.span()
    return find


DIGIT_RUN = re.compile(r"[0-9](?:[ -]?[0-9])*")


def _cards(text: str) -> Iterator[Span]:
    """Card numbers inside any run of digit groups ("ref 8 4111 1111 1111 1111" holds one): every window of
    whole groups 13-19 digits long, kept when Luhn accepts it (a window that passes ends the search there)."""
    for m in DIGIT_RUN.finditer(text):
        run = m.group(0)
        where = [i for i, ch in enumerate(run) if ch != " " and ch != "-"]  # positions of the digits
        if len(where) < 13:
            continue
        digits = "".join(run[i] for i in where)
        starts = [k for k, i in enumerate(where) if i == 0 or run[i - 1] in " -"]
        ends = {k for k, i in enumerate(where) if i == len(run) - 1 or run[i + 1] in " -"}
        k = 0
        for start in starts:
            if start < k:
                continue
            for end in range(start + 12, min(start + 19, len(where))):
                if end in ends and luhn.is_valid(digits[start:end + 1]):
                    yield m.start() + where[start], m.start() + where[end] + 1
                    k = end + 1
                    break


def _phones(text: str) -> Iterator[Span]:
    # numbers written with a country code anywhere, or in North American form
    for m in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID):
        yield m.start, m.end


def _secrets(*plugins) -> Find:
    # the plugins' own patterns, joined into one alternation per set of flags: one pass over the text, not twenty
    by_flags: dict[int, list[str]] = {}
    for plugin in plugins:
        for p in plugin().denylist:
            by_flags.setdefault(p.flags & ~re.UNICODE, []).append(f"(?:{p.pattern})")
    patterns = [re.compile("|".join(parts), flags) for flags, parts in by_flags.items()]

    def find(text: str) -> Iterator[Span]:
        for pattern in patterns:
            for m in pattern.finditer(text):
                yield m.span()
    return find


EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

PROFILES: dict[str, Profile] = {p.id: p for p in (
    Profile("financial-information", "Financial Information", (
        Entry("credit-card-number", "Credit card number (Luhn)", _cards),
        Entry("iban", "IBAN", checked(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", iban.is_valid)),
    )),
    Profile("government-identifiers", "Social Security, Insurance, Tax, and Identifier Numbers", (
        Entry("us-ssn", "United States Social Security Number", checked(r"\b\d{3}-\d{2}-\d{4}\b", ssn.is_valid)),
        Entry("es-dni", "Spanish DNI", checked(r"\b\d{8}-?[A-Z]\b", dni.is_valid)),
        Entry("br-cpf", "Brazilian CPF", checked(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b", cpf.is_valid)),
        Entry("ca-sin", "Canadian SIN", checked(r"\b\d{3}[ -]\d{3}[ -]\d{3}\b", sin.is_valid)),
        Entry("in-aadhaar", "Indian Aadhaar", checked(r"\b\d{4} \d{4} \d{4}\b", aadhaar.is_valid)),
        Entry("it-codice-fiscale", "Italian Codice Fiscale",
              checked(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b", codicefiscale.is_valid)),
    )),
    Profile("personal-information", "Personally Identifiable Information", (
        Entry("email-address", "Email address", lambda text: (m.span() for m in EMAIL.finditer(text))),
        Entry("phone-number", "Phone number", _phones),
    )),
    Profile("credentials-and-secrets", "Credentials and Secrets", (
        Entry("cloud-keys", "Cloud provider keys (AWS, Azure)", _secrets(AWSKeyDetector, AzureStorageKeyDetector)),
        Entry("code-hosting-tokens", "GitHub, GitLab, npm and PyPI tokens",
              _secrets(GitHubTokenDetector, GitLabTokenDetector, NpmDetector, PypiTokenDetector, ArtifactoryDetector)),
        Entry("api-keys", "SaaS API keys (OpenAI, Stripe, Slack, SendGrid, Twilio, Mailchimp, Discord, Telegram)",
              _secrets(OpenAIDetector, StripeDetector, SlackDetector, SendGridDetector, TwilioKeyDetector,
                       MailchimpDetector, DiscordBotTokenDetector, TelegramBotTokenDetector)),
        Entry("private-keys", "Private keys", _secrets(PrivateKeyDetector)),
        Entry("jwt", "JSON Web Tokens", _secrets(JwtTokenDetector)),
    )),
)}

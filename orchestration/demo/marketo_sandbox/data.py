"""Deterministic Marketo data for the sandbox: leads, activities, activity types, programs.

Everything comes from one ``random.Random(seed)``, so the same seed and end time give
the same data. Lead emails can be taken from the operational database's
``customers.email`` (pass ``customer_emails``) so that customer 360 can join Marketo
engagement to pharmacies; about 60 % of the leads get one of those emails.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ISO = "%Y-%m-%dT%H:%M:%SZ"

FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
    "Juliana", "Lucas", "Mariana", "Mateus", "Natália", "Otávio", "Paula", "Rafael", "Sofia", "Thiago",
    "Vitória", "Wagner", "Yasmin", "Zé",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
)  # fmt: skip
PHARMACY_WORDS = (
    "Saúde", "Vida", "Bem Estar", "Popular", "Central", "São João", "Nova Esperança", "Do Povo", "Droga Mais",
    "Farmavida", "Pague Pouco", "Santa Luzia", "Boa Vista", "Primavera", "Ipiranga", "Jardim",
)  # fmt: skip
UFS = ("SP", "RJ", "MG", "PR", "RS", "SC", "BA", "PE", "CE", "GO", "DF", "ES", "PA", "AM", "MT")
LEAD_SOURCES = ("Website", "Trade Show", "Sales Rep", "Webinar", "Partner", "Email Campaign", "Inbound Call")
LEAD_STATUSES = ("New", "Contacted", "Qualified", "Customer", "Disqualified")
TITLES = ("Farmacêutico Responsável", "Gerente de Compras", "Proprietário", "Comprador", "Gerente de Loja")

LEAD_REST_FIELDS: tuple[tuple[str, str, str, int | None], ...] = (
    # (rest name, display name, data type, length)
    ("id", "Id", "integer", None),
    ("email", "Email Address", "email", 255),
    ("firstName", "First Name", "string", 255),
    ("lastName", "Last Name", "string", 255),
    ("company", "Company Name", "string", 255),
    ("title", "Job Title", "string", 255),
    ("phone", "Phone Number", "phone", 255),
    ("city", "City", "string", 255),
    ("state", "State", "string", 255),
    ("country", "Country", "string", 255),
    ("website", "Website", "url", 255),
    ("leadSource", "Lead Source", "string", 255),
    ("leadStatus", "Lead Status", "string", 255),
    ("leadScore", "Lead Score", "score", None),
    ("annualRevenue", "Annual Revenue", "currency", None),
    ("numberOfEmployees", "Num Employees", "integer", None),
    ("unsubscribed", "Unsubscribed", "boolean", None),
    ("dateOfBirth", "Date of Birth", "date", None),
    ("comments", "Comments", "text", None),
    ("createdAt", "Created At", "datetime", None),
    ("updatedAt", "Updated At", "datetime", None),
)
LEAD_NON_REST_FIELDS = (("Lead Partition Id", "reference"), ("Acquisition Program Id", "reference"))

ACTIVITY_TYPES: tuple[dict[str, Any], ...] = (
    {
        "id": 1,
        "name": "Visit Webpage",
        "description": "User visits a web page",
        "primaryAttribute": {"name": "Webpage ID", "dataType": "integer"},
        "attributes": [
            {"name": "Client IP Address", "dataType": "string"},
            {"name": "Query Parameters", "dataType": "string"},
            {"name": "Referrer URL", "dataType": "string"},
            {"name": "User Agent", "dataType": "string"},
            {"name": "Webpage URL", "dataType": "string"},
        ],
    },
    {
        "id": 2,
        "name": "Fill Out Form",
        "description": "User fills out and submits a form",
        "primaryAttribute": {"name": "Webform ID", "dataType": "integer"},
        "attributes": [
            {"name": "Client IP Address", "dataType": "string"},
            {"name": "Form Fields", "dataType": "text"},
            {"name": "Webpage ID", "dataType": "integer"},
        ],
    },
    {
        "id": 6,
        "name": "Send Email",
        "description": "Send a Marketo Email to a person",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Step ID", "dataType": "integer"},
        ],
    },
    {
        "id": 7,
        "name": "Email Delivered",
        "description": "Marketo Email is delivered to a person",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Campaign Run ID", "dataType": "integer"},
            {"name": "Step ID", "dataType": "integer"},
        ],
    },
    {
        "id": 9,
        "name": "Unsubscribe Email",
        "description": "Person unsubscribes from Marketo Emails",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [{"name": "Client IP Address", "dataType": "string"}],
    },
    {
        "id": 10,
        "name": "Open Email",
        "description": "User opens Marketo Email",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [
            {"name": "Device", "dataType": "string"},
            {"name": "Is Mobile Device", "dataType": "boolean"},
        ],
    },
    {
        "id": 11,
        "name": "Click Email",
        "description": "User clicks on a link in a Marketo Email",
        "primaryAttribute": {"name": "Mailing ID", "dataType": "integer"},
        "attributes": [{"name": "Link", "dataType": "string"}, {"name": "Device", "dataType": "string"}],
    },
    {
        "id": 12,
        "name": "New Lead",
        "description": "New person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [
            {"name": "Source Type", "dataType": "string"},
            {"name": "Form Name", "dataType": "string"},
        ],
    },
    {
        "id": 13,
        "name": "Change Data Value",
        "description": "Changed attribute value for a person",
        "primaryAttribute": {"name": "Attribute Name", "dataType": "integer"},
        "attributes": [
            {"name": "New Value", "dataType": "string"},
            {"name": "Old Value", "dataType": "string"},
            {"name": "Reason", "dataType": "string"},
        ],
    },
)
# Relative frequency of each type among generated activities (New Lead is added per lead).
ACTIVITY_WEIGHTS = {1: 30, 2: 5, 6: 20, 7: 18, 9: 1, 10: 12, 11: 6, 13: 8}

EMAIL_NAMES = (
    "Newsletter Farmácia", "Lançamento Genéricos", "Promoção Dermocosméticos", "Campanha Inverno Gripe",
    "Webinar Boas Práticas Anvisa", "Reposição Automática", "Black Friday B2B", "Condições Especiais Ouro",
)  # fmt: skip
FORM_NAMES = ("Cadastro Farmácia", "Solicitar Cotação", "Contato Comercial", "Inscrição Webinar")
PAGES = ("/", "/catalogo", "/genericos", "/promocoes", "/cadastro", "/contato", "/blog/anvisa-rdc", "/login")
PROGRAM_TYPES = ("Default", "Event", "Email", "Engagement", "Webinar")
CHANNELS = ("Email Blast", "Webinar", "Trade Show", "Online Advertising", "Nurture", "Content")


def fmt(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(ISO)


def parse_ts(value: str) -> datetime:
    """Parse Marketo's ISO-8601 forms (``Z``, ``+00:00``, ``+0000``, date only) to aware UTC."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    ts = datetime.fromisoformat(text)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(ch if ch.isalnum() else " " for ch in ascii_text.lower()).split())


def default_customer_emails(count: int, seed: int) -> list[str]:
    """Pharmacy contact emails in the generator's style, used when no database is given."""
    rng = random.Random(seed * 7919 + 1)
    emails = []
    for i in range(count):
        name = f"farmacia-{_slug(rng.choice(PHARMACY_WORDS))}-{i + 1}"
        emails.append(f"contato@{name}.com.br")
    return emails


@dataclass
class SandboxData:
    """The sandbox's whole Marketo instance. Timestamps are ``YYYY-MM-DDTHH:MM:SSZ`` strings."""

    end: datetime
    leads: list[dict[str, Any]]
    activities: list[dict[str, Any]]  # ordered by (activityDate, id); attributes as a dict
    programs: list[dict[str, Any]]
    activity_types: list[dict[str, Any]] = field(default_factory=lambda: [dict(t) for t in ACTIVITY_TYPES])

    @property
    def lead_fields(self) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = []
        for i, (name, display, data_type, length) in enumerate(LEAD_REST_FIELDS, start=1):
            item: dict[str, Any] = {"id": i, "displayName": display, "dataType": data_type}
            if length is not None:
                item["length"] = length
            item["rest"] = {"name": name, "readOnly": name in ("id", "createdAt", "updatedAt", "leadScore")}
            item["soap"] = {"name": name[0].upper() + name[1:], "readOnly": item["rest"]["readOnly"]}
            fields.append(item)
        for j, (display, data_type) in enumerate(LEAD_NON_REST_FIELDS, start=len(fields) + 1):
            fields.append({"id": j, "displayName": display, "dataType": data_type})
        return fields

    @property
    def lead_field_names(self) -> list[str]:
        return [name for name, *_ in LEAD_REST_FIELDS]

    @classmethod
    def build(
        cls,
        seed: int = 42,
        end: datetime | None = None,
        *,
        customer_emails: list[str] | None = None,
        n_leads: int = 3000,
        n_programs: int = 30,
        match_share: float = 0.6,
        activity_days: int = 365,
        activities_per_lead: float = 12.0,
    ) -> SandboxData:
        """Build the data set. ``end`` defaults to now (whole seconds, UTC)."""
        rng = random.Random(seed)
        end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        emails = list(dict.fromkeys(e.strip() for e in (customer_emails or []) if e and e.strip()))
        if customer_emails is None:
            emails = default_customer_emails(max(1, round(n_leads * match_share)), seed)
        n_match = min(len(emails), round(n_leads * match_share))
        matched = rng.sample(emails, n_match) if n_match else []
        history_start = end - timedelta(days=3 * 365)

        leads: list[dict[str, Any]] = []
        for i in range(n_leads):
            lead_id = 1001 + i
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company = f"Farmácia {rng.choice(PHARMACY_WORDS)} {rng.choice(LAST_NAMES)}"
            if i < n_match:
                email = matched[i]
            else:
                email = f"{_slug(first)}.{_slug(last)}.{lead_id}@{_slug(company)}.com.br"
            created = history_start + timedelta(
                seconds=rng.randrange(int((end - history_start).total_seconds()))
            )
            roll = rng.random()
            if roll < 0.3:  # never touched since creation
                updated = created
            elif roll < 0.7:  # updated some time after creation
                updated = created + (end - created) * rng.random()
            else:  # recently updated, possibly long after creation (a createdAt filter misses these)
                updated = max(created, end - timedelta(days=45) * rng.random())
            updated = min(updated.replace(microsecond=0), end - timedelta(seconds=1))
            updated = max(updated, created)
            leads.append(
                {
                    "id": lead_id,
                    "email": email,
                    "firstName": first,
                    "lastName": last,
                    "company": company,
                    "title": rng.choice(TITLES),
                    "phone": _phone(rng),
                    "city": None
                    if rng.random() < 0.1
                    else rng.choice(("São Paulo", "Rio de Janeiro", "Curitiba")),
                    "state": rng.choice(UFS),
                    "country": "Brazil",
                    "website": None if rng.random() < 0.5 else f"https://www.{_slug(company)}.com.br",
                    "leadSource": rng.choice(LEAD_SOURCES),
                    "leadStatus": rng.choice(LEAD_STATUSES),
                    "leadScore": rng.randint(0, 150),
                    "annualRevenue": None if rng.random() < 0.6 else round(rng.uniform(2e5, 2e7), 2),
                    "numberOfEmployees": rng.randint(2, 200),
                    "unsubscribed": rng.random() < 0.05,
                    "dateOfBirth": None,
                    "comments": None
                    if rng.random() < 0.8
                    else "Cliente pediu contato por WhatsApp, após 14h",
                    "createdAt": fmt(created),
                    "updatedAt": fmt(updated),
                }
            )

        programs = []
        for p in range(n_programs):
            created = end - timedelta(days=rng.randint(30, 700))
            updated = created + (end - created) * rng.random()
            ptype = rng.choice(PROGRAM_TYPES)
            programs.append(
                {
                    "id": 1001 + p,
                    "name": f"{rng.choice(EMAIL_NAMES)} {created.year}-{p + 1:02d}",
                    "description": "Programa de marketing para farmácias",
                    "createdAt": fmt(created),
                    "updatedAt": fmt(updated.replace(microsecond=0)),
                    "url": f"https://app-sj01.marketo.com/#PG{1001 + p}A1",
                    "type": ptype,
                    "channel": rng.choice(CHANNELS),
                    "folder": {
                        "type": "Folder",
                        "value": 40 + p % 5,
                        "folderName": f"Campanhas {created.year}",
                    },
                    "status": "" if ptype != "Email" else rng.choice(("locked", "unlocked")),
                    "workspace": "Default",
                    "tags": [],
                    "costs": None,
                }
            )

        window_start = end - timedelta(days=activity_days)
        span = int((end - window_start).total_seconds())
        types = list(ACTIVITY_WEIGHTS)
        weights = [ACTIVITY_WEIGHTS[t] for t in types]
        raw: list[tuple[datetime, int, dict[str, Any]]] = []
        for lead in leads:
            created = datetime.strptime(lead["createdAt"], ISO).replace(tzinfo=UTC)
            lo = max(created, window_start)
            if lo >= end:
                continue
            if created >= window_start:
                raw.append((created, 12, {"leadId": lead["id"]}))
            n = int(rng.expovariate(1 / activities_per_lead))
            lo_s = int((lo - window_start).total_seconds())
            for _ in range(n):
                at = window_start + timedelta(seconds=rng.randrange(lo_s, span))
                raw.append((at, rng.choices(types, weights)[0], {"leadId": lead["id"]}))
        raw.sort(key=lambda r: (r[0], r[2]["leadId"], r[1]))
        activities = []
        for n, (at, type_id, base) in enumerate(raw):
            activities.append(_activity(rng, n + 1, at, type_id, base["leadId"], programs))
        return cls(end=end, leads=leads, activities=activities, programs=programs)


def _activity(
    rng: random.Random, act_id: int, at: datetime, type_id: int, lead_id: int, programs: list[dict[str, Any]]
) -> dict[str, Any]:
    campaign_id: int | None = rng.randint(2000, 2200)
    attrs: dict[str, Any]
    if type_id == 1:
        page = rng.choice(PAGES)
        pav_id, pav = rng.randint(1, 60), f"distribuidora.com.br{page}"
        attrs = {
            "Client IP Address": f"189.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "Query Parameters": "" if rng.random() < 0.7 else "utm_source=email&utm_campaign=genericos",
            "Referrer URL": "https://www.google.com/",
            "User Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "Webpage URL": page,
        }
        campaign_id = None
    elif type_id == 2:
        form = rng.choice(FORM_NAMES)
        pav_id, pav = FORM_NAMES.index(form) + 1, form
        attrs = {
            "Client IP Address": "200.147.1.1",
            "Form Fields": '{"Email": "x", "CNPJ": "y"}',
            "Webpage ID": 5,
        }
    elif type_id in (6, 7, 9, 10, 11):
        program = rng.choice(programs)
        name = rng.choice(EMAIL_NAMES)
        pav_id, pav = program["id"] * 10 + EMAIL_NAMES.index(name), f"{program['name']}.{name}"
        attrs = {"Campaign Run ID": rng.randint(1, 999), "Step ID": rng.randint(1, 9)}
        if type_id == 10:
            attrs = {
                "Device": rng.choice(("iPhone", "Android", "Desktop")),
                "Is Mobile Device": rng.random() < 0.6,
            }
        elif type_id == 11:
            attrs = {"Link": "https://distribuidora.com.br/promocoes?id=7", "Device": "Desktop"}
        elif type_id == 9:
            attrs = {"Client IP Address": "177.10.2.3"}
    elif type_id == 12:
        pav_id, pav = lead_id, "New Lead"
        attrs = {"Source Type": "Web form fillout", "Form Name": rng.choice(FORM_NAMES)}
    else:  # 13 Change Data Value
        pav_id, pav = 47, "Lead Score"
        old = rng.randint(0, 100)
        attrs = {"New Value": str(old + rng.randint(1, 20)), "Old Value": str(old), "Reason": "Score changed"}
    return {
        "id": act_id,
        "marketoGUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "leadId": lead_id,
        "activityDate": fmt(at),
        "activityTypeId": type_id,
        "campaignId": campaign_id,
        "primaryAttributeValueId": pav_id,
        "primaryAttributeValue": pav,
        "attributes": attrs,
    }


def _phone(rng: random.Random) -> str:
    return f"+55 {rng.randint(11, 99)} 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"

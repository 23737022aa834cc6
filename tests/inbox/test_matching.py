"""Which identifiers join contacts: only what a provider vouches for. Typed ones raise possible
matches that an agent confirms or dismisses, on the real app, SQLite and PostgreSQL."""

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app
from inbox import matching
from inbox.auth import hash_password
from inbox.ingest import Arrival, ingest, store_many
from inbox.messages import InboundMessage
from inbox.storage import utcnow
from settings.model import Imap, Mailbox

FIN = "7QX3M9P"
GUNEL_PHONE = "+994501234567"


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def person(ctx, email, role="supervisor", queues=()) -> tuple[int, dict[str, str]]:
    token = secrets.token_urlsafe(32)
    async with ctx.store.transaction() as tx:
        user_id = await tx.users.save(email, name=email.split("@")[0], role=role,
                                     queues=list(queues), languages=["az"],
                                     capacity={"chat": 2, "email": 5},
                                     password_hash=hash_password("irrelevant"))
        await tx.users.save_token(token, user_id, "csrf", utcnow() + timedelta(hours=1))
    return user_id, {"Authorization": f"Bearer {token}"}


def carrier(channel: str, text: str, sid: str, phone: str = GUNEL_PHONE) -> InboundMessage:
    """A message whose number the carrier delivered (SMS, WhatsApp, a call)."""
    return InboundMessage(channel=channel, external_id=sid, address=phone, text=text,
                          received_at=datetime.now(UTC), phone=phone, language="az")


def webchat(text: str, session: str, client_id: str = "1", **extra) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"{session}:{client_id}",
                          address=session, text=text, received_at=datetime.now(UTC),
                          language="az", **extra)


async def contact_of(ctx, conversation_id: int) -> int:
    async with ctx.store.read() as tx:
        return (await tx.conversations.get(conversation_id))["contact_id"]


async def test_a_typed_fin_does_not_join_a_stranger_until_an_agent_confirms(client, ctx):
    # Günel writes by SMS and gives her FIN; later an anonymous web-chat visitor types it.
    gunel = await ingest(ctx, carrier("sms", f"Salam, pensiyam gecikir. FIN {FIN}", "SM1"))
    visitor = await ingest(ctx, webchat(f"Salam, mənim FIN {FIN}", "visitor"))
    gunel_contact = await contact_of(ctx, gunel.conversation_id)
    visitor_contact = await contact_of(ctx, visitor.conversation_id)
    assert visitor_contact != gunel_contact
    boss, headers = await person(ctx, "boss@example.gov.az")

    # The visitor's contact holds nothing of Günel's: no phone, no SMS identity, no history.
    seen = await (await client.get(f"/api/v1/contacts/{visitor_contact}",
                                   headers=headers)).json()
    assert (seen["phone"], [i["channel"] for i in seen["identities"]]) == (None, ["webchat"])
    assert [c["id"] for c in seen["conversations"]] == [visitor.conversation_id]
    # ... but both contacts show the possible match, masked.
    [on_visitor] = seen["possible_matches"]
    assert on_visitor["kind"] == "fin" and on_visitor["value"] == "7QX****"
    assert on_visitor["contact"]["id"] == gunel_contact and on_visitor["contact"]["visible"]
    gunel_view = await (await client.get(f"/api/v1/contacts/{gunel_contact}",
                                         headers=headers)).json()
    [on_gunel] = gunel_view["possible_matches"]
    assert on_gunel["id"] == on_visitor["id"]
    assert on_gunel["contact"]["id"] == visitor_contact

    # The agent, reading the visitor's chat, confirms: one contact, the earlier one, with an
    # event naming who decided.
    response = await client.post(
        f"/api/v1/contacts/{visitor_contact}/matches/{on_visitor['id']}/confirm",
        headers=headers)
    assert response.status == 200
    merged = await response.json()
    assert merged["id"] == gunel_contact and merged["phone"] == GUNEL_PHONE
    assert sorted(i["channel"] for i in merged["identities"]) == ["sms", "webchat"]
    assert merged["possible_matches"] == []
    assert await contact_of(ctx, visitor.conversation_id) == gunel_contact
    detail = await (await client.get(f"/api/v1/conversations/{visitor.conversation_id}",
                                     headers=headers)).json()
    [event] = [e for e in detail["events"] if e["type"] == "contacts_merged"]
    assert event["actor"] == boss
    assert event["data"] == {"from": visitor_contact, "into": gunel_contact, "by": "a person",
                             "match": {"id": on_gunel["id"], "kind": "fin", "value": "7QX****"}}
    async with ctx.store.read() as tx:
        decided = await tx.contacts.match(on_gunel["id"])
        assert decided == {**decided, "status": "confirmed", "decided_by": boss}
    again = await client.post(
        f"/api/v1/contacts/{gunel_contact}/matches/{on_gunel['id']}/confirm", headers=headers)
    assert again.status == 404     # the visitor's contact is merged away
    assert (await again.json())["error"] == f"contact {visitor_contact} not found"


async def test_typed_fins_are_kept_only_as_keyed_digests(ctx):
    result = await ingest(ctx, webchat(f"FIN {FIN}", "visitor"))
    contact_id = await contact_of(ctx, result.conversation_id)
    async with ctx.store.read() as tx:
        claiming = await tx.contacts.claiming(matching.digest(ctx.claim_key, "fin", FIN),
                                              other_than=0)
        contact = await tx.contacts.get(contact_id)
    assert claiming == [contact_id]
    assert FIN not in repr(contact)
    assert matching.digest(b"another deployment", "fin", FIN) \
        != matching.digest(ctx.claim_key, "fin", FIN)


async def test_a_phone_typed_in_web_chat_does_not_make_a_later_sms_join(ctx):
    visitor = await ingest(ctx, webchat(f"Nömrəm {GUNEL_PHONE}, mail gunel@example.az",
                                        "visitor"))
    visitor_contact = await contact_of(ctx, visitor.conversation_id)
    async with ctx.store.read() as tx:
        contact = await tx.contacts.get(visitor_contact)
    assert (contact["phone"], contact["email"]) == (None, None)
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    sms_contact = await contact_of(ctx, sms.conversation_id)
    assert sms_contact != visitor_contact
    async with ctx.store.read() as tx:
        assert [i["channel"] for i in await tx.contacts.identities_of(sms_contact)] == ["sms"]
        [match] = await tx.contacts.open_matches_of(sms_contact)
    assert (match["contact_id"], match["other_contact_id"], match["kind"]) \
        == (visitor_contact, sms_contact, "phone")


async def test_a_phone_typed_after_an_sms_came_is_a_possible_match(ctx):
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    visitor = await ingest(ctx, webchat(f"Mənə {GUNEL_PHONE} nömrəsinə zəng edin", "visitor"))
    sms_contact = await contact_of(ctx, sms.conversation_id)
    visitor_contact = await contact_of(ctx, visitor.conversation_id)
    assert sms_contact != visitor_contact
    async with ctx.store.read() as tx:
        [match] = await tx.contacts.open_matches_of(sms_contact)
    assert (match["contact_id"], match["other_contact_id"], match["kind"]) \
        == (visitor_contact, sms_contact, "phone")


async def test_sms_whatsapp_and_voice_from_one_carrier_number_are_one_contact(ctx):
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    whatsapp = await ingest(ctx, carrier("whatsapp", "Salam yenə", "SM2"))
    call = await ingest(ctx, carrier("voice", "📞", "CA" + "0" * 32))
    contacts = {await contact_of(ctx, r.conversation_id) for r in (sms, whatsapp, call)}
    assert len(contacts) == 1
    async with ctx.store.read() as tx:
        identities = await tx.contacts.identities_of(contacts.pop())
    assert sorted(i["channel"] for i in identities) == ["sms", "voice", "whatsapp"]


async def test_a_number_from_a_channel_no_carrier_vouches_for_joins_nobody(ctx):
    """Defence in depth: a channel that hands ingest a `phone` it did not get from a carrier
    (here web chat) neither joins that number's contact nor puts it on a new one."""
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    chat = await ingest(ctx, webchat("Salam", "visitor", phone=GUNEL_PHONE))
    chat_contact = await contact_of(ctx, chat.conversation_id)
    assert chat_contact != await contact_of(ctx, sms.conversation_id)
    async with ctx.store.read() as tx:
        assert (await tx.contacts.get(chat_contact))["phone"] is None


async def test_a_dismissed_match_is_not_raised_again(client, ctx):
    first = await ingest(ctx, webchat(f"FIN {FIN}", "chat-a"))
    second = await ingest(ctx, webchat(f"FIN {FIN}", "chat-b"))
    a = await contact_of(ctx, first.conversation_id)
    b = await contact_of(ctx, second.conversation_id)
    boss, headers = await person(ctx, "boss@example.gov.az")
    [match] = (await (await client.get(f"/api/v1/contacts/{a}",
                                       headers=headers)).json())["possible_matches"]
    response = await client.post(f"/api/v1/contacts/{a}/matches/{match['id']}/dismiss",
                                 headers=headers)
    assert response.status == 200
    assert (await response.json())["possible_matches"] == []
    async with ctx.store.read() as tx:
        decided = await tx.contacts.match(match["id"])
    assert (decided["status"], decided["decided_by"]) == ("dismissed", boss)
    await ingest(ctx, webchat(f"FIN yenə {FIN}", "chat-b", client_id="2"))
    third = await ingest(ctx, webchat(f"FIN {FIN}", "chat-c"))
    c = await contact_of(ctx, third.conversation_id)

    def pairs(matches):
        return {frozenset((m["contact_id"], m["other_contact_id"])) for m in matches}

    async with ctx.store.read() as tx:
        # The dismissed pair stays dismissed; a third contact is a new pair with each.
        assert pairs(await tx.contacts.open_matches_of(b)) == {frozenset((b, c))}
        assert pairs(await tx.contacts.open_matches_of(a)) == {frozenset((a, c))}
    confirm = await client.post(f"/api/v1/contacts/{a}/matches/{match['id']}/confirm",
                                headers=headers)
    assert confirm.status == 409
    assert await contact_of(ctx, second.conversation_id) == b


async def test_possible_matches_follow_the_queue_checks(client, ctx):
    registration = await ingest(ctx, webchat(
        f"Salam, reintegrasiya prosesinə ilkin qeydiyyatdan keçmək istəyirəm. FIN {FIN}", "a"))
    pension = await ingest(ctx, carrier("sms", f"Pensiyam gecikir, FIN {FIN}", "SM1"))
    a = await contact_of(ctx, registration.conversation_id)
    b = await contact_of(ctx, pension.conversation_id)
    async with ctx.store.transaction() as tx:
        await tx.conversations.update(registration.conversation_id,
                                     queue="migration-registration")
        await tx.conversations.update(pension.conversation_id, queue="call-centre-142")
    _, leyla = await person(ctx, "leyla@example.gov.az", "agent", ["migration-registration"])
    seen = await (await client.get(f"/api/v1/contacts/{a}", headers=leyla)).json()
    [match] = seen["possible_matches"]
    # Leyla may not see the other contact: neither its name nor the merge.
    assert match["contact"] == {"id": b, "visible": False, "name": None}
    confirm = await client.post(f"/api/v1/contacts/{a}/matches/{match['id']}/confirm",
                                headers=leyla)
    assert confirm.status == 403
    hidden = await client.get(f"/api/v1/contacts/{b}", headers=leyla)
    assert hidden.status == 403
    elsewhere = await client.post(f"/api/v1/contacts/{b}/matches/{match['id']}/dismiss",
                                  headers=leyla)
    assert elsewhere.status == 403
    unknown = await client.post(f"/api/v1/contacts/{a}/matches/999999/confirm", headers=leyla)
    assert unknown.status == 404
    assert await contact_of(ctx, pension.conversation_id) == b


async def test_a_merge_carries_the_absorbed_contacts_claims_and_matches(client, ctx):
    first = await ingest(ctx, webchat(f"FIN {FIN}", "chat-a"))
    second = await ingest(ctx, webchat(f"FIN {FIN}, nömrəm {GUNEL_PHONE}", "chat-b"))
    third = await ingest(ctx, webchat(f"FIN {FIN}", "chat-c"))
    a, b, c = [await contact_of(ctx, r.conversation_id) for r in (first, second, third)]
    _, headers = await person(ctx, "boss@example.gov.az")
    async with ctx.store.read() as tx:
        [between] = [m for m in await tx.contacts.open_matches_of(a)
                     if {m["contact_id"], m["other_contact_id"]} == {a, b}]
    response = await client.post(f"/api/v1/contacts/{b}/matches/{between['id']}/confirm",
                                 headers=headers)
    assert (await response.json())["id"] == a
    async with ctx.store.read() as tx:
        # b's match with c was the same as a's: one is left, between a and c.
        left = await tx.contacts.open_matches_of(a)
        assert [{m["contact_id"], m["other_contact_id"]} for m in left] == [{a, c}]
        assert await tx.contacts.open_matches_of(b) == []
        # b's typed phone is a's claim now: a later SMS from it is a possible match with a.
        phone = matching.digest(ctx.claim_key, "phone", GUNEL_PHONE)
        assert await tx.contacts.claiming(phone, other_than=0) == [a]
    sms = await ingest(ctx, carrier("sms", "Salam", "SM1"))
    async with ctx.store.read() as tx:
        [match] = await tx.contacts.open_matches_of(await contact_of(ctx, sms.conversation_id))
    assert match["contact_id"] == a and match["kind"] == "phone"


async def test_an_address_too_long_to_exist_is_no_claim_and_routing_goes_on(ctx):
    address = "a@" + "b" * 400 + ".az"
    result = await ingest(ctx, webchat(f"Yazın: {address}", "visitor"))
    async with ctx.store.read() as tx:
        conversation = await tx.conversations.get(result.conversation_id)
        digest = matching.digest(ctx.claim_key, "email", address)
        assert await tx.contacts.claiming(digest, other_than=0) == []
    assert conversation["routed_at"] is not None


async def test_residents_of_one_batch_who_typed_one_fin_are_a_possible_match(ctx):
    """Taken in together (a burst), two visitors typing the same FIN are matched as if they
    had come one after the other; a third typing another FIN is matched with nobody."""
    first, second, third = await store_many(ctx, [
        Arrival(webchat(f"FIN {FIN}", "visitor-1")),
        Arrival(webchat(f"Mənim FİN kodum {FIN}", "visitor-2")),
        Arrival(webchat("FIN 5ZJ8K2L", "visitor-3"))])
    contacts = [await contact_of(ctx, r.conversation_id) for r in (first, second, third)]
    async with ctx.store.read() as tx:
        [match] = await tx.contacts.open_matches_of(contacts[0])
        assert await tx.contacts.open_matches_of(contacts[2]) == []
        claiming = await tx.contacts.claiming(matching.digest(ctx.claim_key, "fin", FIN),
                                              other_than=0)
    assert {match["contact_id"], match["other_contact_id"]} == set(contacts[:2])
    assert (match["kind"], match["masked"]) == ("fin", "7QX****")
    assert sorted(claiming) == sorted(contacts[:2])


async def test_an_identifier_typed_by_many_matches_only_the_latest_few(ctx):
    """An identifier many residents typed (an example FIN on a poster) identifies nobody:
    each new contact is matched with the latest few who typed it, not with all of them."""
    many = matching.MAX_MATCHES_PER_IDENTIFIER + 5
    await store_many(ctx, [Arrival(webchat(f"FIN {FIN}", f"poster-{n}"))
                           for n in range(many)])
    late = await ingest(ctx, webchat(f"FIN {FIN}", "late-visitor"))
    late_contact = await contact_of(ctx, late.conversation_id)
    async with ctx.store.read() as tx:
        matches = await tx.contacts.open_matches_of(late_contact)
    assert len(matches) == matching.MAX_MATCHES_PER_IDENTIFIER


def mail(text: str, sender: str, n: int, automatic: str | None = None) -> InboundMessage:
    return InboundMessage(channel="email", external_id=f"dost-baku-1:{n:064d}", address=sender,
                          text=text, received_at=datetime.now(UTC), language="az",
                          queue_hint="dost-baku-1", automatic=automatic)


def with_mailbox(ctx, address: str):
    """`ctx` deploying one DOST mailbox at `address`."""
    email = ctx.config.channels.email
    mailbox = Mailbox(id="dost-baku-1", address=address, queue="dost-baku-1",
                      imap=Imap(host="imap.example.gov.az", user="baku1", password="x"),
                      smtp={})
    ctx.config = replace(ctx.config, channels=replace(
        ctx.config.channels, email=replace(email, mailboxes=(mailbox,))))
    return ctx


async def test_residents_who_write_the_centres_address_are_not_matched_by_it(ctx):
    """Two residents writing "I sent it to Baku1@dost.example.gov.az" name the centre, not
    themselves: no claim of it, no possible match between them."""
    with_mailbox(ctx, "Baku1@dost.example.gov.az")
    first, _ = await store_many(ctx, [
        Arrival(mail("Sənədləri baku1@dost.example.gov.az ünvanına göndərdim", "aysel@mail.ru",
                     1)),
        Arrival(mail("Я писал на Baku1@dost.example.gov.az, ответа нет", "oleg@yandex.ru", 2))])
    contact = await contact_of(ctx, first.conversation_id)
    async with ctx.store.read() as tx:
        assert await tx.contacts.open_matches_of(contact) == []
        assert await tx.contacts.claiming(
            matching.digest(ctx.claim_key, "email", "baku1@dost.example.gov.az"),
            other_than=0) == []


async def test_a_bounce_claims_nothing_of_the_resident_it_names(ctx):
    """A bounce quotes the resident's address it could not reach: the mailer daemon is not
    that resident, and every daemon quoting residents is not one another."""
    resident = await ingest(ctx, mail("Pensiya arayışı lazımdır", "orxan.nabiyev@yandex.ru", 1))
    bounce = await ingest(ctx, mail(
        "Delivery to orxan.nabiyev@yandex.ru failed: mailbox full. FIN 5ZJ8K2L",
        "mailer-daemon@mx.yandex.ru", 2, automatic="bounce"))
    async with ctx.store.read() as tx:
        assert await tx.contacts.open_matches_of(
            await contact_of(ctx, resident.conversation_id)) == []
        assert await tx.contacts.claiming(
            matching.digest(ctx.claim_key, "fin", "5ZJ8K2L"), other_than=0) == []
    assert bounce.conversation_id != resident.conversation_id

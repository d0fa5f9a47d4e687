"""Sign-off blocks, disclaimers and client footers go; the prospect's own lines never do."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.sync.mail.reply_text import extract_reply
from threadline.sync.mail.signoff import drop_legal_notices, drop_signoff_block, strip_signoff

NEW = "Thanks Rep, we reviewed the terms with legal and are ready to proceed with the pilot."
DISCLAIMER = ("CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of the "
              "intended recipient(s) and may contain confidential and privileged information. Any unauthorized "
              "review, use, disclosure or distribution is prohibited. If you are not the intended recipient, please "
              "contact the sender by reply e-mail and destroy all copies of the original message.")
QUOTE = "\n\nOn Mon, Mar 3, 2025 at 9:00 AM Rep One <rep@vendor.example> wrote:\n> Shall we start the pilot?\n"


def test_issue_example_name_title_and_confidentiality_notice_go():
    text = f"{NEW}\n\nQuinn Hale\nDirector of Security\n\n{DISCLAIMER}{QUOTE}"
    assert extract_reply(text) == NEW


@pytest.mark.parametrize("signoff", [
    "Quinn Hale\nDirector of Security",
    "Quinn Hale\nDirector of Security | Acme Robotics\nM +1 (415) 555-0142 | quinn.hale@acme.example",
    "Quinn Hale – Director of Security, Acme Robotics",
    "Dr. Quinn Hale, PhD (she/her)\nHead of Research\nAcme Robotics Inc.",
    "Quinn Hale\nAcme Robotics Inc.\n500 Howard St, Suite 300\nSan Francisco, CA 94105\nwww.acme.example",
    "Best regards,\n\nQuinn Hale\nVP Operations\nAcme Robotics Inc.\nOffice: +1 415 555 0100\n"
    "Mobile: +1 415 555 0142\n500 Howard St, Suite 300\nSan Francisco, CA 94105\nhttps://acme.example\nLinkedIn | Twitter",
    "Sent from my iPhone\n\n" + DISCLAIMER,
    "Jordan Blake\nHead of Procurement\nNorthwind Ltd\n\nPlease consider the environment before printing this email.",
    "Regards,\nQuinn\n\n______________________________\n\nDisclaimer\n\nThe information contained in this "
    "communication is confidential. If you are not the intended recipient, any disclosure, copying or "
    "distribution is strictly prohibited.\n\nThis email has been scanned for viruses and malware.",
])
def test_english_signoff_blocks_disclaimers_and_footers_go(signoff):
    assert extract_reply(f"{NEW}\n\n{signoff}\n") == NEW


@pytest.mark.parametrize(("text", "expected"), [
    ("Passt, dann am Dienstag.\n\nDana Schmidt\nEinkaufsleiterin | Muster GmbH\nMobil: +49 171 1234567\n\n"
     "Sitz der Gesellschaft: Berlin | Amtsgericht Charlottenburg HRB 12345\n\nDiese E-Mail enthält vertrauliche "
     "Informationen. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, "
     "informieren Sie bitte sofort den Absender und vernichten Sie diese E-Mail.", "Passt, dann am Dienstag."),
    ("Nous validons le devis.\n\nCordialement,\n\nClaire Martin\nDirectrice des achats\nExemple SAS\n"
     "12 rue de la Paix, 75002 Paris\nTél : +33 1 23 45 67 89\n\nCe message est confidentiel et destiné "
     "exclusivement au destinataire. Si vous avez reçu ce message par erreur, merci d'avertir l'expéditeur.",
     "Nous validons le devis."),
    ("Podemos firmar el jueves.\n\nJavier Ruiz\nDirector Comercial\nEjemplo S.L.\nTel. +34 91 123 45 67\n\n"
     "AVISO DE CONFIDENCIALIDAD: Este mensaje es confidencial y se dirige exclusivamente a su destinatario. Si lo "
     "ha recibido por error, comuníquelo al remitente.", "Podemos firmar el jueves."),
    ("Confermo la riunione.\n\nMarco Bianchi\nResponsabile Acquisti\nEsempio S.r.l.\nTel. +39 02 1234567\n\n"
     "Le informazioni contenute in questo messaggio sono riservate e destinate al destinatario. Se avete ricevuto "
     "questo messaggio per errore, informate il mittente.", "Confermo la riunione."),
    ("Podemos avançar.\n\nAna Souza\nDiretora de Compras\nExemplo Ltda.\n+55 11 91234-5678\n\nEnviado do meu iPhone",
     "Podemos avançar."),
    ("Dinsdag is prima.\n\nSanne de Vries\nInkoopmanager\nVoorbeeld B.V.\nT +31 20 123 4567", "Dinsdag is prima."),
    ("Vi kör.\n\nErik Lindqvist\nInköpschef\nExempel AB\nTel: +46 8 123 456 78", "Vi kör."),
    ("Det passer.\n\nOla Nordmann\nDaglig leder\nEksempel AS\nTlf: +47 22 12 34 56", "Det passer."),
    ("Tiistai sopii.\n\nMatti Virtanen\nOstopäällikkö\nEsimerkki Oy\npuh. +358 40 123 4567", "Tiistai sopii."),
    ("Potwierdzam.\n\nJan Kowalski\nKierownik ds. zakupów\nPrzykład Sp. z o.o.\ntel. +48 22 123 45 67",
     "Potwierdzam."),
    ("Vyhovuje nám to.\n\nS pozdravem\nPetr Novák\nObchodní ředitel\nPříklad s.r.o.", "Vyhovuje nám to."),
    ("Готовы начать.\n\nС уважением,\nИван Петров\nРуководитель отдела закупок\nООО «Пример»\nТел.: +7 495 123-45-67",
     "Готовы начать."),
    ("Нам підходить.\n\nОлена Коваленко\nКерівник відділу продажів\nТОВ «Приклад»", "Нам підходить."),
    ("問題ありません。\n\nよろしくお願いいたします。\n\n山田 太郎\n株式会社サンプル 営業部 部長\nTEL: 03-1234-5678",
     "問題ありません。"),
    ("我们同意。\n\n谢谢！\n\n王伟\n采购经理\n示例科技有限公司\n电话：+86 10 1234 5678", "我们同意。"),
    ("화요일 10시에 뵙겠습니다.\n\n감사합니다.\n\n김민수\n구매팀장\n주식회사 예시", "화요일 10시에 뵙겠습니다."),
    ("Uygun.\n\nSaygılarımla,\nAhmet Yılmaz\nSatın Alma Müdürü\nÖrnek A.Ş.", "Uygun."),
])
def test_signoffs_and_disclaimers_in_the_corpus_languages_go(text, expected):
    assert extract_reply(text) == expected


def test_gateway_banner_above_the_text_goes():
    text = ("CAUTION: This email originated from outside of the organization. Do not click links or open "
            "attachments unless you recognize the sender and know the content is safe.\n\nWe can do Thursday.")
    assert extract_reply(text) == "We can do Thursday."


def test_the_senders_own_name_alone_goes_when_text_stays():
    assert extract_reply("Sounds good, Tuesday works.\n\nJordan", sender_name="Jordan Blake") == \
        "Sounds good, Tuesday works."


# --- never drop the prospect's own content ----------------------------------------------------------

@pytest.mark.parametrize("reply", ["Sounds good", "Jordan", "Quinn Hale", "Sounds Good\nJordan", "Merci !"])
def test_a_one_line_reply_that_looks_like_a_name_stays(reply):
    assert extract_reply(reply) == reply
    assert extract_reply(reply, sender_name="Jordan Blake") == reply


@pytest.mark.parametrize("reply", ["+1 (415) 555-0142", "0171 1234567", "Call me: +49 171 1234567",
                                   "quinn.hale@acme.example\n+1 415 555 0142"])
def test_a_reply_that_is_only_a_phone_number_stays(reply):
    assert extract_reply(reply) == reply


@pytest.mark.parametrize("reply", [
    "Quinn Hale\nDirector of Security\nAcme Robotics\n+1 415 555 0142\nquinn.hale@acme.example",
    "Best regards,\nQuinn Hale\nDirector of Security",
    "Sitz der Gesellschaft: Berlin | Amtsgericht Charlottenburg HRB 12345",
    DISCLAIMER,
])
def test_a_reply_whose_only_content_is_a_signature_looking_block_stays(reply):
    assert extract_reply(reply) == reply


def test_only_the_disclaimer_goes_when_the_rest_is_a_signature_looking_block():
    assert extract_reply(f"Quinn Hale\nDirector of Security\n\n{DISCLAIMER}") == "Quinn Hale\nDirector of Security"


@pytest.mark.parametrize("body", [
    "Please keep our pricing confidential. If it is disclosed to the other bidders, our procurement rules say "
    "the deal is prohibited and we have to restart the tender.",
    "This message is confidential, so please don't share the numbers.",
    "Disclaimer: I am not a lawyer, but clause 4 looks fine to us and we can sign this week.",
    "Confidentiality\n\nWe can sign your NDA next week, our counsel is fine with it.",
    "die Preise behandeln wir vertraulich, der Empfänger im Einkauf ist Herr Braun.",
    "Our registered office moved to Berlin, please update the invoice address.",
])
def test_a_sentence_that_mentions_confidentiality_in_the_body_stays(body):
    assert extract_reply(f"Hi Rep,\n\n{body}") == f"Hi Rep,\n\n{body}"


@pytest.mark.parametrize("reply", [
    "Security questions should go to our CISO:\n\nQuinn Hale\nChief Information Security Officer\n"
    "quinn.hale@acme.example\n+1 415 555 0142",
    "Hi Rep,\n\nSecurity questions go to our CISO:\n\nQuinn Hale\nCISO\nquinn@acme.example\n+1 415 555 0142",
    "Please ship the demo unit to our warehouse.\n\nAcme Robotics Inc.\n500 Howard St, Suite 300\n"
    "San Francisco, CA 94105",
    "We need these people on the call.\n\nPriya Shah\nHead of IT\nMarco Rossi\nCFO",
    "The decision maker for this is\n\nPriya Shah\nHead of IT",
    "Our legal team needs this clause in the contract:\n\n" + DISCLAIMER,
    "Invoice address.\n\nAcme Robotics\nAttn: Accounts Payable\n500 Howard St\nSan Francisco, CA 94105",
])
def test_contact_details_the_prospect_gives_stay(reply):
    assert extract_reply(reply) == reply


def test_a_colleagues_details_stay_when_the_sender_is_someone_else():
    reply = "Our CFO will sign the order form.\n\nMaria Lopez\nChief Financial Officer\n+1 415 555 0199"
    assert extract_reply(reply, sender_name="Jordan Blake") == reply
    assert extract_reply(reply, sender_name="Maria Lopez") == "Our CFO will sign the order form."


def test_a_short_sentence_above_a_short_signature_stays():
    # The contact-block rule used to take "Tuesday works." along with the signature below it.
    assert extract_reply("Hi Rep,\n\nTuesday works.\n\nJordan Blake\nAcme\nT: 555 123 4567\nE: j@acme.example") == \
        "Hi Rep,\n\nTuesday works."
    assert extract_reply("お世話になっております。\n\n来週の火曜日10時で問題ありません。\n\n山田 太郎\n"
                         "TEL: 03-1234-5678\nEmail: yamada@sample.example") == \
        "お世話になっております。\n\n来週の火曜日10時で問題ありません。"


def test_text_below_a_signature_looking_block_keeps_the_block():
    reply = "Quinn Hale\nDirector of Security\n\nis the one to ask, I have copied her."
    assert extract_reply(f"Hi Rep,\n\n{reply}") == f"Hi Rep,\n\n{reply}"


# --- the module's own promises --------------------------------------------------------------------

LINE = st.sampled_from([
    "", "Quinn Hale", "Director of Security", "Acme GmbH", "+1 415 555 0142", "quinn@acme.example",
    "Thanks,", "Sounds good.", DISCLAIMER, "Sent from my iPhone", "-----", "Disclaimer", "See you:",
    "CAUTION: This email originated from outside. Do not click links.", "Jordan", "Hauptstraße 5, 10115 Berlin",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=20), st.sampled_from(["", "Jordan Blake", "Quinn Hale"]))
def test_strip_signoff_keeps_a_contiguous_slice_and_never_empties_text(lines, sender):
    result = strip_signoff(lines, sender)
    assert any(result == lines[i:i + len(result)] for i in range(len(lines) - len(result) + 1))
    if any(line.strip() and set(line.strip()) != {"-"} for line in lines):
        assert any(line.strip() for line in result)


def test_each_step_returns_its_input_when_there_is_nothing_to_drop():
    lines = ["Tuesday at 10 works.", "", "Can you send the contract?"]
    assert drop_legal_notices(lines) is lines
    assert drop_signoff_block(lines) is lines


def test_hostile_inputs_finish_fast():
    cases = [
        "Quinn Hale\n" * 50_000,
        ("Director of Security | " * 2_000 + "\n") * 20,
        ("confidential intended recipient " * 500 + "\n\n") * 30,
        "x\n\n" + "+1 415 555 0142 " * 40_000,
        "CONFIDENTIALITY NOTICE: " * 30_000,
        ("a@b." * 20_000),
    ]
    for text in cases:
        started = time.perf_counter()
        extract_reply(text, sender_name="Quinn Hale")
        assert time.perf_counter() - started < 1.0, text[:40]

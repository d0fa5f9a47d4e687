"""extract_reply: the new text of a reply, without quoted history or signature."""

from __future__ import annotations

import pytest

from threadline.sync.mail.reply_text import extract_reply

NEW = "Tuesday at 10 works for us. Can you send the contract beforehand?"


@pytest.mark.parametrize("history", [
    # Gmail, with the attribution wrapped over two lines
    "On Mon, Mar 3, 2025 at 9:00 AM Rep One <\nrep@example.com> wrote:\n\n> Would Tuesday work?\n>\n> Rep",
    # Apple Mail
    "> On 3 Mar 2025, at 09:00, Rep One <rep@example.com> wrote:\n>\n> Would Tuesday work?",
    # Thunderbird
    "On 03/03/2025 09:00, Rep One wrote:\n> Would Tuesday work?",
    # Outlook desktop, plain text
    "________________________________\nFrom: Rep One <rep@example.com>\nSent: Monday, March 3, 2025 9:00 AM\n"
    "To: Dana Reyes <dana@client.example>\nSubject: Pricing\n\nWould Tuesday work?",
    # Outlook without the rule, bold labels from HTML conversion
    "*From:* Rep One <rep@example.com>\n*Sent:* Monday, March 3, 2025 9:00 AM\n*To:* Dana\n*Subject:* Pricing\n\n"
    "Would Tuesday work?",
    # AOL / old Outlook
    "-----Original Message-----\nFrom: Rep One <rep@example.com>\nDate: Mon, 3 Mar 2025\n\nWould Tuesday work?",
    # Yahoo
    "----- Original Message -----\nFrom: Rep One <rep@example.com>\nTo: dana@client.example\n\nWould Tuesday work?",
    # forwarded history below the answer
    "---------- Forwarded message ---------\nFrom: Rep One <rep@example.com>\n\nWould Tuesday work?",
])
def test_client_reply_forms_keep_only_the_new_text(history):
    assert extract_reply(f"{NEW}\n\n{history}\n") == NEW


@pytest.mark.parametrize("attribution", [
    "Am 03.03.2025 um 09:00 schrieb Rep One <rep@example.com>:",
    "Rep One <rep@example.com> schrieb am Mo., 3. März 2025 um 09:00:",
    "Le lun. 3 mars 2025 à 09:00, Rep One <rep@example.com> a écrit :",
    "El lun, 3 mar 2025 a las 9:00, Rep One (<rep@example.com>) escribió:",
    "Op ma 3 mrt. 2025 om 09:00 schreef Rep One <rep@example.com>:",
    "Den mån 3 mars 2025 kl 09:00 skrev Rep One <rep@example.com>:",
    "Il giorno lun 3 mar 2025 alle ore 09:00 Rep One <rep@example.com> ha scritto:",
    "Em seg., 3 de mar. de 2025 às 09:00, Rep One <rep@example.com> escreveu:",
    "W dniu 3.03.2025 o 09:00, Rep One <rep@example.com> pisze:",
    "3 марта 2025 г., в 9:00, Rep One <rep@example.com> написал(а):",
    "2025年3月3日(月) 9:00 Rep One <rep@example.com>:",
])
def test_attributions_in_other_languages(attribution):
    assert extract_reply(f"{NEW}\n\n{attribution}\n\n> Would Tuesday work?\n") == NEW


@pytest.mark.parametrize("header_block", [
    "Von: Rep One <rep@example.com>\nGesendet: Montag, 3. März 2025 09:00\nAn: Dana\nBetreff: Preise",
    "De : Rep One <rep@example.com>\nEnvoyé : lundi 3 mars 2025 09:00\nÀ : Dana\nObjet : Prix",
    "De: Rep One <rep@example.com>\nEnviado: lunes, 3 de marzo de 2025 9:00\nPara: Dana\nAsunto: Precios",
    "Van: Rep One <rep@example.com>\nVerzonden: maandag 3 maart 2025 09:00\nAan: Dana\nOnderwerp: Prijzen",
    "Från: Rep One <rep@example.com>\nSkickat: den 3 mars 2025 09:00\nTill: Dana\nÄmne: Priser",
])
def test_outlook_header_blocks_in_other_languages(header_block):
    assert extract_reply(f"{NEW}\n\n{header_block}\n\nWould Tuesday work?\n") == NEW


def test_bottom_posted_answer_below_the_quote_is_kept():
    text = "Hi,\nOn Mon, Mar 3, 2025 at 9:00 AM Rep One <rep@example.com> wrote:\n> Would Tuesday work?\n\nYes, it does."
    assert extract_reply(text) == "Hi,\n\nYes, it does."


def test_inline_answers_keep_the_new_lines_only():
    text = "> Would Tuesday work?\nYes.\n\n> Anyone else joining?\nMy CFO.\n"
    assert extract_reply(text) == "Yes.\n\nMy CFO."


def test_words_that_look_like_headers_in_prose_stay():
    text = "On the whole I agree.\nOne question: who signs?\nFrom: the legal team, I assume.\n"
    assert extract_reply(text) == text.strip()


@pytest.mark.parametrize("signature", [
    "-- \nDana Reyes\nHead of Ops, Client Inc.\n+1 555 010 0100",
    "Sent from my iPhone",
    "Sent from my Galaxy",
    "Get Outlook for Android",
    "Von meinem iPhone gesendet",
    "Envoyé de mon iPhone",
    "Enviado desde mi iPhone",
    "Verstuurd vanaf mijn iPhone",
    "Skickat från min iPhone",
    "Thanks,\nDana",
    "Best regards,\nDana Reyes\nClient Inc.",
    "Mit freundlichen Grüßen\nDana Reyes",
    "Cordialement,\nDana",
    "-Dana",
    "Dana Reyes\ndana@client.example\n+1 (555) 010-0100\nwww.client.example",
])
def test_signatures_and_mobile_footers_are_dropped(signature):
    assert extract_reply(f"{NEW}\n\n{signature}\n") == NEW


def test_signature_before_the_quoted_history_is_dropped_too():
    text = f"{NEW}\n\nSent from my iPhone\n\nOn Mar 3, 2025, at 9:00 AM, Rep One <rep@example.com> wrote:\n\n> Hi"
    assert extract_reply(text) == NEW


def test_a_one_word_thanks_is_the_reply_not_a_signature():
    assert extract_reply("Thanks!\n\nOn Mon, Mar 3, 2025 at 9:00 AM Rep <rep@example.com> wrote:\n> Hi") == "Thanks!"


def test_whitespace_is_normalised():
    assert extract_reply("\r\n\r\n  Line one  \r\n\r\n\r\n\r\nLine two\u00a0\r\n") == "Line one\n\nLine two"


def test_quote_only_mail_has_no_new_text():
    assert extract_reply("> Would Tuesday work?\n> Rep\n") == ""


GMAIL_HTML = (
    '<div dir="ltr">Tuesday at 10 works for us.<div>Can you send the contract?</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Mar 3, 2025 at 9:00 AM Rep One '
    '&lt;<a href="mailto:rep@example.com">rep@example.com</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Would Tuesday work?</blockquote></div>'
)
OUTLOOK_WEB_HTML = (
    '<html><body><div style="font-family:Calibri">Tuesday at 10 works for us.</div>'
    '<div>Can you send the contract?</div><hr style="display:inline-block;width:98%" tabindex="-1">'
    '<div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Rep One &lt;rep@example.com&gt;<br><b>Sent:</b> Monday'
    '</div><div>Would Tuesday work?</div></body></html>'
)
OUTLOOK_DESKTOP_HTML = (
    '<html><body><div class="WordSection1"><p class="MsoNormal">Tuesday at 10 works for us.</p>'
    '<p class="MsoNormal">Can you send the contract?</p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;'
    'padding:3.0pt 0in 0in 0in"><p class="MsoNormal"><b>From:</b> Rep One &lt;rep@example.com&gt;<br>'
    '<b>Sent:</b> Monday, March 3, 2025 9:00 AM</p></div></div><p class="MsoNormal">Would Tuesday work?</p>'
    '</div></body></html>'
)
APPLE_HTML = (
    '<html><body><div>Tuesday at 10 works for us.</div><div>Can you send the contract?</div><div><br>'
    '<blockquote type="cite"><div>On 3 Mar 2025, at 09:00, Rep One &lt;rep@example.com&gt; wrote:</div>'
    '<div>Would Tuesday work?</div></blockquote></div></body></html>'
)
THUNDERBIRD_HTML = (
    '<html><body><p>Tuesday at 10 works for us.</p><p>Can you send the contract?</p>'
    '<div class="moz-cite-prefix">On 03/03/2025 09:00, Rep One wrote:<br></div>'
    '<blockquote type="cite">Would Tuesday work?</blockquote></body></html>'
)


@pytest.mark.parametrize("html", [GMAIL_HTML, OUTLOOK_WEB_HTML, OUTLOOK_DESKTOP_HTML, APPLE_HTML, THUNDERBIRD_HTML])
def test_html_only_replies_drop_quote_containers(html):
    assert extract_reply("", html) == "Tuesday at 10 works for us.\nCan you send the contract?"


def test_html_with_quote_container_wins_over_a_text_part_that_kept_the_history():
    text = "Tuesday at 10 works for us.\nCan you send the contract?\nOn Mon, Rep One wrote:\nWould Tuesday work?"
    assert extract_reply(text, GMAIL_HTML) == "Tuesday at 10 works for us.\nCan you send the contract?"


def test_html_without_quote_container_uses_the_text_part():
    assert extract_reply(f"{NEW}\n\n> old", "<p>something else entirely</p>") == NEW


def test_gmail_signature_div_is_dropped():
    html = f'<div>{NEW}</div><div class="gmail_signature">Dana Reyes | Client Inc.</div>'
    assert extract_reply("", html) == NEW

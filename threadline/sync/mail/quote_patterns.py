"""The words mail clients use around quoted history and signatures, in many languages.

Kept apart from the algorithm in reply_text.py so adding a language is a data change.
Every pattern is matched against one line (or a few joined lines) of bounded length
and has no nested quantifiers, so none can backtrack catastrophically.
"""

from __future__ import annotations

import re

# Verbs ending an attribution line: "On <date>, <who> wrote:" and its translations.
WROTE = (
    r"wrote|writes|has written|sent|schrieb|hat geschrieben|geschrieben|a écrit|a ecrit|écrit|escribió|escribio|"
    r"ha escrito|ha scritto|scrisse|escreveu|schreef|heeft geschreven|skrev|skriver|kirjoitti|"
    r"napisał\(a\)|napisała|napisał|napisal|napsal\(a\)|napsala|napsal|пишет|писал|написал\(а\)|написала|"
    r"написал|написав|пише|yazdı|írta|scrie|a scris|έγραψε|kaj|写道|寫道|のメッセージ|は書きました|"
    r"작성|wrote on|escribi[oó] el"
)
ATTRIBUTION_END = re.compile(r"(?:^|[\s>\"')\]])(?:" + WROTE + r")\s*(?:[^\s:：]{0,40}\s*)?[:：]\s*$", re.IGNORECASE)
# Openers that make an attribution certain even without a date in it.
ATTRIBUTION_START = re.compile(
    r"^(?:(?:on|am|le|el|il|em|op|den|dne|dnia|w dniu|în|pe|il giorno|el día)\s|\d|\w+,? \d)",
    re.IGNORECASE,
)
# "Am <date> schrieb <who> <addr>:" — the verb in the middle (German, Scandinavian, Dutch).
WROTE_INSIDE = re.compile(r"(?:^|\s)(?:" + WROTE + r")(?:\s|$)", re.IGNORECASE)
DATEISH = re.compile(r"\d|@")
# English clients that wrap "On <weekday>, <date> at <time> <who>" away from "wrote:".
ON_WEEKDAY_TIME = re.compile(r"^On (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? .{0,120}\d{1,2}:\d{2}")
# Gmail's older "2013/7/20 Name <addr>" and "2016-03-03 17:21 GMT+01:00 Name <addr>:" forms.
ISO_DATE_ATTRIBUTION = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s.{0,200}(?:GMT[+-]\d|<[^<>\s]+@[^<>\s]+>:?$)")
# Zoho: "---- On Tue, 22 Dec 2015 … wrote ----".
DASHED_ATTRIBUTION = re.compile(r"^\s*-{2,}\s*on\s.{0,200}\swrote\s*-{2,}\s*$", re.IGNORECASE)

# Separator lines Outlook, AOL, Yahoo and webmails put above quoted or forwarded mail.
SEPARATOR = re.compile(
    r"^[\s>*_]*(?:-{2,}|_{2,}|={2,})\s*(?:"
    r"original message|original-nachricht|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|mensagem original|oorspronkelijk bericht|origineel bericht|ursprungligt meddelande|"
    r"opprinnelig melding|oprindelig meddelelse|alkuperäinen viesti|wiadomość oryginalna|oryginalna wiadomość|"
    r"původní zpráva|исходное сообщение|пересылаемое сообщение|forwarded message|weitergeleitete nachricht|"
    r"message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|vidarebefordrat meddelande|"
    r"reply message|reply above this line|原始邮件|原始郵件|転送メッセージ|元のメッセージ"
    r")\s*(?:-{2,}|_{2,}|={2,})?[\s*]*$",
    re.IGNORECASE,
)
FORWARD_INTRO = re.compile(
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|"
    r"inicio del mensaje reenviado|inizio messaggio inoltrato|doorgestuurd bericht)\s*:\s*$",
    re.IGNORECASE,
)
# A bare rule of dashes/underscores (Outlook's "________________________________").
RULE = re.compile(r"^\s*(?:_{20,}|-{20,})\s*$")
UNDERSCORE_RULE = re.compile(r"^\s*_{20,}\s*$")   # Outlook and mailing-list footers start here
# Lines of ruler symbols only ("***", "====", "~~~~") left dangling at the end.
RULER = re.compile(r"^[-_=*#~+.·•ᐧ\s]+$")
REPLY_ABOVE = re.compile(r"^\W*(?:##- ?please type your reply above this line ?-##|reply above this line)\W*$", re.I)

# Header labels of a quoted message block ("From: … Sent: … To: … Subject: …").
FROM_LABELS = (
    r"from|von|de|van|från|fra|od|от|da|lähettäjä|kimden|feladó|afzender|expéditeur|remitente|"
    r"发件人|寄件者|差出人|보낸 사람|odesílatel"
)
OTHER_LABELS = (
    r"sent|date|to|cc|subject|reply-to|gesendet|datum|an|betreff|envoyé|date d'envoi|à|a|objet|enviado|"
    r"fecha|para|asunto|inviato|data|oggetto|verzonden|aan|onderwerp|skickat|till|ämne|sendt|til|emne|"
    r"wysłano|wysłane|do|temat|отправлено|дата|кому|тема|lähetetty|vastaanottaja|aihe|gönderildi|tarih|"
    r"kime|konu|elküldve|címzett|tárgy|发送时间|日期|收件人|主题|傳送時間|收件者|主旨|送信日時|宛先|件名|"
    r"날짜|받는 사람|제목|odesláno|komu|předmět"
)
HEADER_LINE = re.compile(r"^[\s>*]*(" + FROM_LABELS + "|" + OTHER_LABELS + r")\s?\*?\s?[:：]", re.IGNORECASE)
FROM_LINE = re.compile(r"^[\s>*]*(?:" + FROM_LABELS + r")\s?\*?\s?[:：]\s*\S", re.IGNORECASE)

# "-- " signature delimiter (RFC 3676), and its common mangled forms.
SIGNATURE_DELIMITER = re.compile(r"^(?:-- ?|--|—|__)\s*$")

# Mobile and webmail footers: a short line on its own near the end of the new text.
MOBILE_FOOTER = re.compile(
    r"^[\s(<\[]*(?:"
    r"sent (?:from|with|via|using|by) |get \[?outlook for |sent from \[?mail\]?|envoyé (?:de|depuis) |"
    r"von meinem .{1,40} gesendet|gesendet von |enviado (?:desde|de) |verzonden (?:vanaf|met|van) |"
    r"verstuurd (?:vanaf|met) |skickat från |sendt fra |lähetetty |inviato da |wysłane z |"
    r"отправлено (?:с|из) |diese nachricht wurde von |someone from mobile|from my iphone|"
    r"sent by galaxy|via mobile$|從我的 |发自我的|送信元|my iphone から|enviado do |envoyé à partir de |"
    r"gesendet mit |odesláno z |надіслано з |obtenir outlook pour |outlook für .{1,20} beziehen|"
    r"obtener outlook para |scarica outlook per |hämta outlook för |pobierz aplikację outlook|"
    r"получить outlook для |\S{1,20}から送信$|\S{1,20}에서 보냄$|\S{1,20}(?:umdan|ımdan|imden|den|dan) gönderildi$"
    r")",
    re.IGNORECASE,
)
MAX_FOOTER_CHARS = 90

# Sign-offs that start a closing block ("Thanks,\nAlex"); only the phrase (+ a name) on its line.
CLOSING = re.compile(
    r"^(?i:thanks(?: again| so much| a lot)?|thank you(?: very much)?|many thanks|cheers|regards|best|"
    r"best regards|kind regards|warm regards|warmest regards|best wishes|all the best|sincerely|"
    r"yours(?: truly| sincerely)?|respectfully|take care|talk soon|tia|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|viele grüße|viele grüsse|beste grüße|liebe grüße|"
    r"grüße|gruß|lg|mfg|vg|cordialement|bien cordialement|bien à vous|salutations|merci|amicalement|"
    r"saludos|un saludo|atentamente|cordiali saluti|saluti|grazie|atenciosamente|abraços|obrigado|"
    r"met vriendelijke groet(?:en)?|groeten|groet|mvg|med vänlig hälsning|vänliga hälsningar|hälsningar|"
    r"z poważaniem|z powazaniem|mvh|kh|vh|bh|med venlig hilsen|venlig hilsen|hilsen|med vänliga hälsningar|med vennlig hilsen|pozdrawiam|pozdrowienia|"
    r"с уважением|спасибо|ystävällisin terveisin|terveisin|"
    r"freundliche grüße|freundliche grüsse|herzliche grüße|schöne grüße|beste grüsse|meilleures salutations|"
    r"sincères salutations|cordialmente|un cordiale saluto|distinti saluti|saluti cordiali|muchas gracias|"
    r"un abrazo|cumprimentos|melhores cumprimentos|obrigada|met hartelijke groet(?:en)?|hartelijke groeten|"
    r"vriendelijke groet(?:en)?|vennlig hilsen|beste hilsen|s pozdravem|s přátelským pozdravem|děkuji|"
    r"с наилучшими пожеланиями|всего доброго|з повагою|дякую|saygılarımla|teşekkürler|üdvözlettel|"
    r"tisztelettel|köszönöm|よろしくお願いいたします|よろしくお願い致します|よろしくお願いします|谢谢|謝謝|此致敬礼|"
    r"祝好|감사합니다)"
    r"\s*[,.!。！]*(?:\s+[A-ZÀ-Þ][\w.'-]*(?:\s+[A-ZÀ-Þ][\w.'-]*){0,2})?\s*$"
)
# "-Alex" / "- Alex Smith" on its own line: a signature in github's convention.
DASH_NAME = re.compile(r"^(?:-|/|//)\s?[A-ZÀ-Þ][\w.'-]*(?:\s+[A-ZÀ-Þ][\w.'-]*){0,2}\s*$")
# Date or time inside an attribution that has no "wrote" verb.
STRICT_DATEISH = re.compile(r"\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b|\d{4}年")

# A signature line that is only contact details: "t. 555-931-0702", "www.example.com", "skype: x".
CONTACT_LINE = re.compile(
    r"^(?:#sig#)?\s*(?:(?:t|f|m|p|e|tel|fax|phone|mobile|mob|cell|email|e-mail|skype|web|www)\s?[.:]\s*)?"
    r"(?:\+?[\d() .\-/]{7,20}|\S+@\S+\.\w+|(?:https?://|www\.)\S+|[\w.]{1,40})\s*$",
    re.IGNORECASE,
)
CONTACT_EVIDENCE = re.compile(r"\d{3}|@|https?://|www\.|skype", re.IGNORECASE)
NAME_LINE = re.compile(r"^[A-ZÀ-Þ][\w.'-]*(?:\s+[A-ZÀ-Þ][\w.'-]*){0,2}$")

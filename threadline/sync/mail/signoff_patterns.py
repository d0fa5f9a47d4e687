"""The words of sign-off blocks, legal disclaimers and client footers, in the corpus's languages.

Kept apart from the algorithm in signoff.py (as quote_patterns.py is from reply_text.py) so
adding a language is a data change. The languages are those of the shared reply corpus:
English, German, French, Spanish, Italian, Portuguese, Dutch, Swedish, Danish, Norwegian,
Finnish, Polish, Czech, Russian, Ukrainian, Turkish, Hungarian, Japanese, Chinese, Korean.
Every pattern runs on one line (or one bounded paragraph) and has no nested quantifiers.
"""

from __future__ import annotations

import re


def _words(alternatives: str) -> str:
    """`alternatives` as whole words: no letter may touch either end (\\b is wrong for "ä" and "-")."""
    return r"(?<![^\W\d_])(?:" + alternatives + r")(?![^\W\d_])"


# --- legal disclaimers --------------------------------------------------------------------------
# A disclaimer paragraph names what it protects (CONFIDENTIAL) and who may read it or what to do
# when it arrived by mistake (RECIPIENT). A body sentence rarely has both; a notice always does.
CONFIDENTIAL = re.compile(
    _words(
        r"confidential|privileged|proprietary|vertraulich\w*|confidentiel\w*|confidencial\w*|riservat\w+|"
        r"vertrouwelijk\w*|konfidentiel\w*|sekretess\w*|fortrolig\w*|luottamukselli\w+|poufn\w+|důvěrn\w+|"
        r"конфиденциальн\w+|конфіденційн\w+|gizli|bizalmas\w*|sigilo\w*|geheim\w*"
    ) + r"|機密|秘密|机密|保密|기밀|비밀",
    re.IGNORECASE,
)
RECIPIENT = re.compile(
    _words(
        # en
        r"intended recipients?|intended solely|intended only|intended exclusively|addressee\w*|"
        r"received (?:this|it|the) (?:\S+ ){0,2}in error|in error,? please|by mistake|notify the sender|"
        r"(?:strictly )?prohibited|unauthori[sz]ed|delete (?:it|this|the|all)|not the intended|"
        r"disclos\w+|dissemination|"
        # de
        r"empfänger\w*|adressat\w*|irrtümlich\w*|versehentlich\w*|fälschlicherweise|unbefugt\w*|"
        r"nicht gestattet|untersagt|absender\w*|weitergabe|"
        # fr
        r"destinataires?|par erreur|interdite?s?|strictement interdit\w*|l'expéditeur|l’expéditeur|"
        # es, pt
        r"destinatari[oa]s?|destinatários?|por error|por engano|prohibid[oa]s?|proibid[oa]s?|remitente|remetente|"
        # it
        r"per errore|vietat[oa]|mittente|"
        # nl
        r"geadresseerde\w*|abusievelijk|per vergissing|niet toegestaan|verboden|afzender|"
        # sv, da, no
        r"mottagare\w*|modtager\w*|mottaker\w*|av misstag|ved en fejl|ved en feil|förbjuden|forbudt|"
        r"avsändare\w*|afsender\w*|avsender\w*|"
        # fi, pl, cs
        r"vastaanottaja\w*|erehdyksessä|adresat\w*|przez pomyłkę|omyłkowo|zabronione|adresát\w*|omylem|zakázáno|"
        # ru, uk
        r"адресат\w*|получател\w*|по ошибке|запрещен\w*|одержувач\w*|помилково|заборонен\w*|"
        # tr, hu
        r"alıcı\w*|yanlışlıkla|yasaktır|címzett\w*|tévedésből|tilos"
    ) + r"|宛先|誤って|誤送信|受信者|送信者|削除|收件人|收件者|发件人|寄件人|错误|錯誤|错收|误收|删除|刪除|禁止|"
        r"수신인|수신자|잘못|삭제|발신자",
    re.IGNORECASE,
)
# A disclaimer speaks of the message itself: "This e-mail and any attachments…".
MESSAGE_REF = re.compile(
    _words(
        r"(?:this|the) (?:e-?mail|message|communication|transmission|electronic mail)|"
        r"(?:diese|dieser|die) (?:e-?mail|nachricht)|(?:ce|le) (?:message|courriel|e-?mail)|"
        r"(?:este|el) (?:mensaje|correo)|(?:questo|il) messaggio|(?:questa|la) e-?mail|(?:esta|a) mensagem|"
        r"(?:este|o) e-?mail|(?:dit|het) (?:bericht|e-?mailbericht)|(?:detta|det här) (?:e-?postmeddelande|meddelande)|"
        r"(?:denne|den) (?:e-?mail|meddelelse|e-?post|meldingen)|tämä (?:viesti|sähköposti)|"
        r"(?:ta|niniejsza) wiadomość|(?:tato|tento) (?:zpráva|e-?mail)|(?:это|данное) (?:сообщение|письмо)|"
        r"(?:це|цей|дане) (?:повідомлення|лист)|bu (?:e-?posta|mesaj)|ez az? (?:e-?mail|üzenet)"
    ) + r"|本邮件|本郵件|此邮件|このメール|本メール|このEメール|이 메일|이 이메일|본 메일",
    re.IGNORECASE,
)
# A heading that starts a notice: "CONFIDENTIALITY NOTICE: …", "Disclaimer", "Rechtlicher Hinweis:".
NOTICE_HEADING = re.compile(
    r"^[\W_]{0,4}(?:"
    r"confidentiality notice|confidentiality|confidential(?:ity)? (?:statement|disclaimer|note)|"
    r"(?:legal |e-?mail |important )?disclaimer|legal notice|privileged (?:and|&) confidential|privacy notice|"
    r"vertraulichkeitshinweis|vertraulichkeit|haftungsausschluss|rechtlicher hinweis|rechtliche hinweise|"
    r"avis de confidentialité|clause de confidentialité|avertissement|mentions légales|"
    r"aviso de confidencialidad|aviso legal|cláusula de confidencialidad|aviso de confidencialidade|"
    r"avviso di riservatezza|riservatezza|informativa privacy|clausola di riservatezza|"
    r"vertrouwelijkheid|vertrouwelijkheidsverklaring|sekretessmeddelande|ansvarsfriskrivning|"
    r"fortrolighed|ansvarsfraskrivelse|konfidensialitet|vastuuvapauslauseke|luottamuksellisuus|"
    r"klauzula poufności|zastrzeżenie|upozornění|uwaga|внимание|конфиденциальность|"
    r"уведомление о конфиденциальности|конфіденційність|gizlilik uyarısı|yasal uyarı|"
    r"jogi nyilatkozat|免责声明|免責聲明|保密声明|免責事項|機密保持|注意事項|면책 조항|법적 고지"
    r")(?:[\W_]{0,4}$|\s*[:：\-–—]\s*\S)",
    re.IGNORECASE,
)
# Footers a mail gateway or the company appends: virus scans, printing, the register entry.
LEGAL_FOOTER = re.compile(
    _words(
        r"scanned (?:for viruses|by)|virus[- ]?(?:free|checked|scanned)|virenfrei|"
        r"(?:consider|think of) the environment|before printing this|bevor sie diese e-?mail ausdrucken|"
        r"an die umwelt|avant d'imprimer|pensez à l'environnement|antes de imprimir|prima di stampare|"
        r"registered (?:office|in england|address)|company (?:registration|number|reg\.? no)|"
        r"vat (?:no|number|reg)|handelsregister|registergericht|amtsgericht|sitz der gesellschaft|ust-?id(?:nr)?|"
        r"steuernummer|siège social|rcs|siret|capital social|registro mercantil|domicilio social|partita iva|"
        r"p\.\s?iva|registro (?:delle )?imprese|kvk|kamer van koophandel|org\.?\s?nr|organisasjonsnummer|"
        r"y-tunnus|krs|regon|nip(?=\s*:)|ič(?=\s*:)|dič(?=\s*:)|огрн|инн|"
        r"this (?:e-?mail|message) (?:has been|was) (?:sent|scanned)"
    ),
    re.IGNORECASE,
)
# Banners a gateway puts above the text of mail from outside: "CAUTION: This email originated
# from outside of the organization. Do not click links…", "[EXTERNAL]".
EXTERNAL_BANNER = re.compile(
    r"(?:originated from outside|from an external|external (?:e-?mail|sender)|do not click (?:on )?links|"
    r"unless you recogni[sz]e the sender|externe[rn]? (?:e-?mail|absender)|stammt von (?:außerhalb|extern)|"
    r"courriel externe|e-?mail externe|correo externo|email esterna|extern(?:e)? (?:e-?mail|afzender))",
    re.IGNORECASE,
)
EXTERNAL_TAG = re.compile(r"^\W*(?:external|extern|externe|externo|esterno|ext)\W*(?:e-?mail|mail|sender)?\W*$",
                          re.IGNORECASE)

# --- sign-off blocks ----------------------------------------------------------------------------
# Job titles and departments: a line with one of these right below a name is a title line.
# Matched word by word (a set lookup), not as one regex: an alternation of hundreds of words
# tried at every position of every line costs more than the rest of the extraction.
TITLE_WORDS = frozenset("""
ceo cto cfo coo cio ciso cmo cro cpo vp svp evp avp president chairman chair director manager lead engineer
officer founder co-founder cofounder owner partner principal consultant specialist coordinator analyst
administrator architect developer designer executive associate assistant representative advisor adviser counsel
attorney lawyer accountant controller treasurer secretary supervisor strategist scientist researcher professor
recruiter buyer procurement purchasing sales operations
geschäftsleitung leitung assistenz
directeur directrice responsable gérant gérante président présidente fondateur fondatrice ingénieur ingénieure
consultante conseiller conseillère associée assistante commercial commerciale acheteur acheteuse avocat avocate
pdg dg dsi daf drh
director directora gerente jefe jefa presidenta fundador fundadora socio socia consultora ingeniero ingeniera
asesor asesora coordinador coordinadora analista ejecutivo ejecutiva abogado abogada compras ventas diretor
diretora coordenador coordenadora sócio sócia engenheiro engenheira executivo executiva advogado advogada vendas
direttore direttrice amministratore amministratrice fondatore consulente ingegnere coordinatore coordinatrice
titolare avvocato
hoofd eigenaar oprichter adviseur inkoop verkoop accountmanager bedrijfsleider projectleider teamleider medewerker
vd chef ansvarig grundare säljare inköpschef försäljningschef konsult projektledare ägare direktör direktør leder
ansvarlig grundlægger gründer konsulent rådgiver rådgivare sælger selger salgschef salgssjef indkøbschef
innkjøpssjef prosjektleder projektleder ejer eier
toimitusjohtaja johtaja päällikkö myyntipäällikkö ostopäällikkö asiantuntija konsultti perustaja omistaja
dyrektor kierownik prezes właściciel założyciel specjalista specjalistka konsultant doradca menedżer inżynier
handlowiec vedoucí jednatel konzultant majitel
директор руководитель менеджер начальник специалист инженер консультант основатель владелец заместитель
керівник спеціаліст засновник власник
yönetici uzman danışman kurucu mühendis igazgató ügyvezető vezető menedzser tanácsadó alapító
""".split())
TITLE_PHRASES = (
    "vice president", "head of", "team lead", "account executive", "key account", "chef de", "chargé de",
    "chargée de", "ufficio acquisti", "ufficio commerciale", "daglig leder", "genel müdür", "satın alma",
)
# Words that take endings ("Geschäftsführerin", "ředitelka", "Müdürü").
TITLE_STEMS = (
    "geschäftsführer", "leiter", "vorstand", "prokurist", "vertrieb", "einkauf", "inhaber", "gründer", "berater",
    "referent", "sachbearbeiter", "assistent", "projektleiter", "mitarbeiter", "ingenieur", "entwickler",
    "rechtsanw", "abteilungsleiter", "bereichsleiter", "teamleiter", "ředitel", "manažer", "müdür",
)
# Endings of compound titles ("Einkaufsleiterin", "Inkoopmanager", "Salgssjef", "Ostopäällikkö").
TITLE_COMPOUND_ENDINGS = (
    "leiter", "leiterin", "führer", "führerin", "manager", "managerin", "päällikkö", "johtaja", "chef", "sjef",
    "leder", "direktør", "direktör", "ansvarlig", "ansvarig", "medewerker", "adviseur",
)
TITLE_CJK = (
    "部長", "課長", "係長", "社長", "取締役", "本部長", "室長", "主任", "マネージャー", "営業部", "经理", "經理", "总监",
    "總監", "董事", "主管", "工程师", "工程師", "顾问", "顧問", "创始人", "대표", "이사", "부장", "과장", "차장", "팀장",
    "매니저", "실장", "본부장", "대리",
)
WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
# Legal forms of companies. Short uppercase ones ("AS", "AB", "SA") only in capitals: "as" is a word.
COMPANY = re.compile(
    _words(
        r"inc\.?|llc|l\.l\.c\.|ltd\.?|limited|plc|corp\.?|corporation|gmbh|e\.\s?v\.|sarl|s\.à r\.l\.|"
        r"s\.a\.s?\.?|s\.l\.|s\.r\.l\.|srl|s\.p\.a\.|spa|b\.v\.|n\.v\.|a/s|aps|oyj?|sp\. z o\.o\.|s\.r\.o\.|"
        r"lda\.?|ltda\.?|pty|kft\.?|zrt\.?|a\.ş\.|ооо|оао|зао|пао|тов"
    ) + r"|" + r"(?<![^\W\d_])(?-i:AG|KG|SE|SA|SAS|SL|BV|NV|AB|AS|ASA|GbR|OHG|UG|Co\.)(?![^\W\d_])"
    + r"|株式会社|有限会社|有限公司|股份有限公司|公司|㈜|주식회사",
    re.IGNORECASE,
)
# Labels in front of contact details: "Tel.:", "M:", "Mobil", "E-Mail", "Web", "LinkedIn".
CONTACT_LABEL = re.compile(
    _words(
        r"tel|tél|tlf|telefon|telephone|téléphone|teléfono|telefono|telefone|telefoon|puh|puhelin|phone|ph|"
        r"mobile|mobil|mobiel|mob|móvil|movil|cell|cellulare|celular|handy|gsm|portable|matkapuhelin|fax|"
        r"direct|direkt|dir|office|main|durchwahl|zentrale|switchboard|e-?mail|mail|courriel|correo|web|"
        r"website|site|skype|linkedin|twitter|xing|teams|zoom|whatsapp|signal|t|m|f|p|e|w|d|o|c|"
        r"тел|моб|факс|почта"
    ) + r"|電話|电话|手机|手機|携帯|传真|傳真|邮箱|郵箱|邮件|メール|전화|휴대폰|팩스|메일|이메일",
    re.IGNORECASE,
)
PHONE = re.compile(r"\+?\(?\+?\d[\d ()./\-]{5,22}\d")
EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,4}")
URL = re.compile(
    r"(?:https?://|www\.)\S{1,200}|(?<![\w@.])[\w-]{1,63}(?:\.[\w-]{1,63}){0,3}\.(?:com|org|net|io|co|ai|app|"
    r"biz|info|eu|uk|de|fr|es|it|pt|br|nl|be|ch|at|se|dk|no|fi|pl|cz|ru|ua|tr|hu|jp|cn|kr|example)(?:/\S{0,120})?"
    r"(?![\w-])",
    re.IGNORECASE,
)
SOCIAL = re.compile(
    r"^(?:(?:linkedin|twitter|x|facebook|instagram|xing|youtube|github|website|web|blog|tiktok)\s*[|·•/,]?\s*)+$",
    re.IGNORECASE,
)
PRONOUNS = re.compile(r"^\(?(?:pronouns:\s*)?(?:she|he|they|sie|er|il|elle|ella|él)/\w+(?:/\w+)?\)?$",
                      re.IGNORECASE)
# Street words and postcodes: "123 Main St, Suite 400", "Hauptstraße 5", "75008 Paris", "CA 94105".
STREET = re.compile(
    _words(
        r"street|st\.?|avenue|ave\.?|road|rd\.?|boulevard|blvd\.?|suite|ste\.?|floor|fl\.?|lane|drive|dr\.|"
        r"way|square|plaza|building|p\.?o\.? box|straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|"
        r"rue|avenue|bd|chemin|place|calle|c/|avda\.?|avenida|paseo|plaza|via|viale|piazza|corso|rua|"
        r"largo|travessa|straat|laan|plein|gracht|gatan|vägen|gade|vej|veien|gata|katu|tie|ulica|ul\.|"
        r"aleja|al\.|náměstí|ул\.?|улица|проспект|пр\.|вул\.?|вулиця|cadde(?:si)?|sokak|sk\.|utca|út"
    ) + r"|丁目|番地|号|路|街|로|길|동",
    re.IGNORECASE,
)
POSTCODE = re.compile(
    r"(?:^|[\s,])(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÀ-Þ][\w-]|(?-i:\b[A-Z]{2}\s\d{5}(?:-\d{4})?\b)|"
    r"(?-i:\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b)|\d{2}-\d{3}\s+[A-ZÀ-Þ]|\d{3}\s\d{2}\s+[A-ZÀ-Þ]|〒"
)
COUNTRY = re.compile(
    _words(
        r"usa|u\.s\.a\.|united states|united kingdom|uk|canada|australia|germany|deutschland|france|españa|spain|"
        r"italia|italy|portugal|brasil|brazil|nederland|netherlands|belgium|belgique|schweiz|suisse|switzerland|"
        r"österreich|austria|sverige|sweden|danmark|denmark|norge|norway|suomi|finland|polska|poland|"
        r"česká republika|czech republic|россия|russia|україна|ukraine|türkiye|turkey|magyarország|hungary|"
        r"japan|日本|china|中国|korea|대한민국|ireland|mexico|méxico"
    ) + r"\s*$",
    re.IGNORECASE,
)
# Name particles and honorifics that may sit inside or before a name.
NAME_PARTICLES = frozenset(
    "van von de der den da del della di du la le ten ter y e bin al dos das do zu af av".split())
HONORIFIC = re.compile(
    r"^(?:dr|prof|mr|mrs|ms|mx|mag|ing|dipl\.-ing|herr|frau|m|mme|mlle|sr|sra|srta|sig|dott|dott\.ssa|ir|drs|"
    r"mgr|inż|pan|pani|г-н|г-жа)\.?\s+",
    re.IGNORECASE,
)
CREDENTIALS = re.compile(
    r",?\s+(?:ph\.?d\.?|mba|cpa|cfa|pmp|esq\.?|jr\.?|sr\.?|ii|iii|iv|m\.?d\.?|m\.?sc\.?|b\.?sc\.?|dipl\.?)\s*$",
    re.IGNORECASE,
)
NAME_WORD = re.compile(r"^(?:[A-ZÀ-ÞА-ЯЁІЇЄҐΑ-ΩŁŚŻŹĆŃŠČŘŽĎŤŇ][\w'’.-]{0,30}|[A-Z]\.)$")
CJK_NAME = re.compile(r"^(?:[\u4e00-\u9fff\u3040-\u30ff]{1,4}\s?[\u4e00-\u9fff\u3040-\u30ff]{1,4}|[\uac00-\ud7a3]{2,4})$")
# A line ending in one of these words is an unfinished sentence ("The decision maker is"): what
# follows it completes the sentence, it is not a sign-off.
DANGLING = re.compile(
    _words(
        r"is|are|was|were|be|to|the|a|an|with|and|or|of|for|from|by|at|contact|ask|call|email|reach|cc|meet|"
        r"ist|sind|an|mit|und|oder|von|für|bei|est|sont|avec|et|ou|de|pour|es|son|con|y|o|para|è|sono|e|per|"
        r"é|são|com|ou|is|zijn|met|en|of|voor|är|med|och|eller|för|er|og|eller|til"
    ) + r"\s*$",
    re.IGNORECASE,
)
# Separators between a name and its title on one line: "Quinn Hale | Director", "Quinn Hale – CEO".
NAME_TITLE_SPLIT = re.compile(r"\s*(?:\||,|–|—|-|/|·|•)\s+|\s+(?:\||–|—|-|·|•)\s*")

//! The words mail clients write around a quote, in the languages they ship: attribution verbs,
//! header field names, "Original Message" and "Forwarded message" separators, and the lines
//! phones and apps append. Only tables and the lookups on them live here; how lines are
//! combined is `patterns`'s concern.

/// Verbs that close an attribution ("On … John wrote:"), as the reply templates of Gmail,
/// Outlook, Apple Mail and Thunderbird write them in each language they ship. Matched as the
/// last word(s), after lower-casing.
#[rustfmt::skip]
pub const CLOSING_VERBS: &[&str] = &[
    // en
    "wrote", "writes", "said", "sent", "wrote the following", "sent the following",
    // de
    "schrieb", "geschrieben", "hat geschrieben", "folgendes geschrieben",
    // fr
    "a écrit", "écrit", "ecrit", "a ecrit",
    // es, ca, gl
    "escribió", "escribio", "escribe", "ha escrito", "escrit", "va escriure",
    // it
    "ha scritto", "scritto", "scrisse",
    // pt
    "escreveu", "escreve",
    // nl
    "schreef", "heeft geschreven", "geschreven", "het volgende geschreven", "verzond",
    // sv, no, da, is
    "skrev", "skriver", "skrev følgende", "skrev följande", "skrifaði",
    // fi, et
    "kirjoitti", "kirjutas",
    // pl
    "napisał", "napisała", "napisał(a)", "napisał/a", "napisal", "pisze",
    // cs, sk
    "napsal", "napsala", "napsal(a)", "napísal", "napísala", "napísal(a)",
    // sl, hr, sr, bg
    "je napisal", "je napisala", "napisao", "napisala je", "je napisao", "написа", "написал/а",
    // hu, ro, lt, lv
    "írta", "ezt írta", "a scris", "rašė", "rakstīja",
    // ru, uk
    "написал", "написала", "написал(а)", "пишет", "написав", "написав(ла)", "написав(-ла)", "пише",
    // tr, el, he, ar
    "yazdı", "şunu yazdı", "έγραψε", "כתב", "כתבה", "كتب",
    // vi, id, ms
    "đã viết", "viết", "menulis",
];

/// Closing words of scripts without spaces, matched as a suffix ("…写道：", "…님이 작성:").
#[rustfmt::skip]
pub const CLOSING_CJK: &[&str] = &[
    "写道", "寫道", "作成", "작성", "씀", "님이 작성", "のメッセージ", "のメール", "さんは書きました", "は書きました",
    "書きました", "来信",
];

/// Verbs that come before the name: "Am 4. Juni 2024 um 10:02 schrieb Name <a@b>:".
pub const OPENING_VERBS: &[&str] =
    &["schrieb", "skrev", "schreef", "kirjoitti", "wrote", "napsal", "napisał", "escribió", "heeft", "hat"];

/// Weekday and month abbreviations that dates in attributions write with a dot ("Fr., 28.
/// Apr. 2017", "jeu. 5 oct.", "ons. 4. okt.", "вт, 4 июн."), lower-case and without it. A
/// wrapped attribution may end an inner line on one; a sentence rarely does (words that end
/// English sentences, "to", "man", "sat", "mar", are left out).
#[rustfmt::skip]
pub const DATE_ABBREVIATIONS: &[&str] = &[
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "jan", "feb", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "mo", "di", "mi", "fr", "jän", "mär", "okt", "dez", "lun", "mer", "jeu", "ven",
    "sam", "dim", "janv", "févr", "fév", "avr", "juil", "déc", "mié", "jue", "vie", "sáb", "dom", "ene", "abr",
    "ago", "dic", "gio", "gen", "giu", "lug", "ott", "ma", "wo", "vr", "za", "zo", "mrt", "tir", "ons", "tor",
    "fre", "lør", "søn", "tis", "lör", "sön", "maj", "seg", "ter", "qua", "qui", "fev", "пн", "вт", "ср", "чт",
    "пт", "сб", "вс", "янв", "февр", "мар", "апр", "июн", "июл", "авг", "сент", "окт", "нояб", "дек", "г",
    "pon", "wt", "śr", "czw", "pt", "sob", "niedz", "sty", "lut", "kwi", "cze", "lip", "wrz", "paź", "lis",
    "gru",
];

/// How sign-offs open, lower-cased, as people close a message in the languages clients ship:
/// "Regards,", "Viele Grüße", "Cordialement", "Pozdrawiam", "С уважением", ….
#[rustfmt::skip]
pub const SIGN_OFFS: &[&str] = &[
    "regards", "best regards", "kind regards", "warm regards", "warmest regards", "best", "best wishes", "all the best",
    "cheers", "thanks", "thank you", "many thanks", "thanks again", "thx", "sincerely", "yours", "yours truly",
    "yours sincerely", "br", "kr", "rgds", "take care",
    "mfg", "lg", "vg", "gruß", "grüße", "viele grüße", "beste grüße", "liebe grüße", "freundliche grüße",
    "mit freundlichen grüßen", "schöne grüße", "danke", "vielen dank",
    "cordialement", "bien cordialement", "salutations", "bien à vous", "merci", "bonne journée", "amicalement",
    "saludos", "un saludo", "atentamente", "gracias", "un saluto", "saluti", "cordiali saluti", "grazie",
    "atenciosamente", "abraços", "obrigado", "obrigada", "cumprimentos",
    "met vriendelijke groet", "vriendelijke groet", "groeten", "groet", "mvg",
    "med vänlig hälsning", "vänliga hälsningar", "hälsningar", "mvh", "med venlig hilsen", "venlig hilsen",
    "hilsen", "vennlig hilsen", "ystävällisin terveisin", "terveisin",
    "pozdrawiam", "pozdrowienia", "z poważaniem", "s pozdravem", "s pozdravom", "üdvözlettel",
    "с уважением", "спасибо", "всего доброго", "з повагою", "saygılarımla", "teşekkürler",
    "此致", "谢谢", "よろしくお願いします", "감사합니다",
];

/// Words of thanks or assent a reply may end on right before a glued attribution ("Thanks
/// Ana <a@b> schrieb am …:"), lower-cased.
#[rustfmt::skip]
pub const THANKS: &[&str] = &[
    "thanks", "thx", "ty", "cheers", "ok", "okay", "yes", "no", "sure", "done", "great", "perfect", "agreed",
    "danke", "merci", "gracias", "grazie", "obrigado", "obrigada", "bedankt", "dank", "tack", "takk", "tak",
    "kiitos", "dzięki", "dziękuję", "děkuji", "díky", "спасибо", "дякую", "teşekkürler", "köszönöm", "mulțumesc",
    "ευχαριστώ", "cảm", "terima", "谢谢", "ありがとう", "감사합니다",
];

/// How attributions open, lower-cased first words: "On", "Le", "El", "Am", "Op", "Il", "Em",
/// "Den", "Dne", "W dniu", "На", "В", "У", "在", "Il giorno", "Na", "Ngày", ….
#[rustfmt::skip]
pub const LEAD_INS: &[&str] = &[
    "on", "le", "el", "em", "il", "am", "op", "den", "dne", "w", "dnia", "på", "在", "в", "во", "у", "на", "na",
    "dňa", "ngày", "于", "於", "quoting", "citando", "zitat", "citation", "cytuję", "den.", "kl.", "vào", "pada",
    "pe", "στις", "ב-", "في", "tanggal",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    From,
    Subject,
    /// "Date:" / "Sent:": when the message was sent.
    Date,
    /// "To:", "Cc:" and the rest.
    Other,
}

/// The kind of a header field name (lower-case, no colon): "von" → From, "objet" → Subject.
pub fn field(name: &str) -> Option<Field> {
    #[rustfmt::skip]
    const FROM: &[&str] = &[
        "from", "de", "van", "da", "von", "från", "fra", "od", "от", "від", "lähettäjä", "feladó", "afzender",
        "expéditeur", "remitente", "absender", "gönderen", "kimden", "odesílatel", "od koho", "发件人", "寄件者",
        "寄件人", "差出人", "보낸 사람", "보낸사람", "από", "de la", "saatja", "pošiljatelj", "frá",
        "mittente", "nuo", "מאת", "من", "từ", "dari", "pengirim",
    ];
    #[rustfmt::skip]
    const SUBJECT: &[&str] = &[
        "subject", "objet", "sujet", "onderwerp", "oggetto", "betreff", "assunto", "asunto", "ämne", "emne",
        "temat", "тема", "主题", "主旨", "件名", "제목", "tárgy", "aihe", "konu", "předmět", "predmet", "θέμα",
        "subiect", "tema", "teema", "efni", "נושא", "الموضوع", "chủ đề", "tiêu đề", "subjek", "perihal",
    ];
    #[rustfmt::skip]
    const DATE: &[&str] = &[
        "sent", "date", "envoyé", "envoyé le", "verzonden", "inviato", "gesendet", "enviado", "enviado el",
        "enviada", "enviada em", "enviado em", "skickat", "sendt", "wysłano", "wysłane", "data",
        "datum", "fecha", "发送时间", "發送時間", "寄件日期", "送信日時", "日期", "日時", "отправлено", "надіслано",
        "дата", "message du", "lähetetty", "päivämäärä", "elküldve", "dátum", "tarih", "gönderildi", "odesláno",
        "odoslané", "보낸 날짜", "날짜", "στάλθηκε", "ημερομηνία", "trimis", "dată", "poslano", "sent at", "dato",
        "תאריך", "נשלח", "التاريخ", "تاريخ", "تم الإرسال", "ngày", "đã gửi", "ngày gửi", "tanggal",
        "dikirim", "日付", "時間", "received", "verstuurd", "datum verzonden",
    ];
    #[rustfmt::skip]
    const OTHER: &[&str] = &[
        // to
        "to", "à", "a", "aan", "an", "para", "till", "do", "til", "кому", "收件人", "收件者", "宛先", "받는 사람",
        "받는사람", "címzett", "vastaanottaja", "destinataire", "alıcı", "kime", "komu", "προς", "către", "pentru",
        "destinatario", "destinatário", "אל", "إلى", "đến", "tới", "kepada", "ontvanger",
        // copy
        "cc", "bcc", "copie", "copie à", "kopie", "kopia", "cópia", "copia", "kopio", "抄送", "副本", "参照",
        "참조", "reply-to", "répondre à", "antwort an", "responder a", "kopie an", "másolat", "копия", "копія",
        "bilgi", "κοιν", "kópia", "kopi", "עותק", "نسخة", "tembusan", "bản sao",
        // importance, attachments
        "importance", "priorité", "wichtigkeit", "importancia", "attachments", "pièces jointes", "anlagen",
    ];
    if FROM.contains(&name) {
        Some(Field::From)
    } else if SUBJECT.contains(&name) {
        Some(Field::Subject)
    } else if DATE.contains(&name) {
        Some(Field::Date)
    } else if OTHER.contains(&name) {
        Some(Field::Other)
    } else {
        None
    }
}

/// Subject prefixes that mark a forward: "Fwd:", "FW:", "TR:", "WG:", "RV:", "I:", ….
pub fn forward_subject(subject: &str) -> bool {
    #[rustfmt::skip]
    const PREFIXES: &[&str] = &[
        "fwd", "fw", "tr", "wg", "rv", "enc", "i", "doorst", "vs", "vl", "vb", "pd", "pdl", "pfw",
        "转发", "轉寄", "転送", "전달", "İlt", "továbbítás", "přeposlat", "пересл", "пересл.", "fs",
    ];
    let Some((prefix, _)) = subject.trim().split_once([':', '：']) else { return false };
    PREFIXES.contains(&prefix.trim().to_lowercase().as_str())
}

/// "Original Message" in the dashed separators clients draw above a quoted original.
#[rustfmt::skip]
pub const ORIGINAL: &[&str] = &[
    "original message", "message d'origine", "message d’origine", "message original", "ursprüngliche nachricht",
    "originalnachricht", "mensaje original", "mensagem original", "oorspronkelijk bericht", "origineel bericht",
    "messaggio originale", "ursprungligt meddelande", "originalmeddelande", "oprindelig meddelelse", "oprindelig besked",
    "original besked", "opprinnelig e-post",
    "opprinnelig melding", "alkuperäinen viesti", "oryginalna wiadomość", "wiadomość oryginalna",
    "původní zpráva", "pôvodná správa", "исходное сообщение", "оригинальное сообщение", "вихідне повідомлення",
    "оригінальне повідомлення", "原始邮件", "原始郵件", "元のメッセージ", "원본 메시지", "eredeti üzenet",
    "orijinal ileti", "orijinal mesaj", "αρχικό μήνυμα", "mesaj original", "reply message", "original",
];

/// "Forwarded message" in the dashed separators above a forwarded original.
#[rustfmt::skip]
pub const FORWARDED: &[&str] = &[
    "forwarded message", "forward message", "message transféré", "message transmis", "weitergeleitete nachricht",
    "mensaje reenviado", "mensagem encaminhada", "mensagem reencaminhada", "doorgestuurd bericht",
    "messaggio inoltrato", "vidarebefordrat meddelande", "videresendt meddelelse", "videresendt melding",
    "välitetty viesti", "videresendt besked", "przekazana wiadomość", "wiadomość przekazana", "přeposlaná zpráva", "preposlaná správa",
    "пересылаемое сообщение", "пересланное сообщение", "переслане повідомлення", "пересланий лист",
    "转发的邮件", "轉寄的郵件", "転送されたメッセージ", "転送メッセージ", "전달된 메시지", "továbbított üzenet",
    "iletilen ileti", "προωθημένο μήνυμα", "mesaj redirecționat", "mensaje reenviado", "mensagem encaminhada",
    "doorgestuurde e-mail", "weitergeleitete e-mail", "e-mail transféré", "přeposlaná zpráva", "tin nhắn đã chuyển tiếp",
    "pesan yang diteruskan", "הודעה שהועברה", "رسالة مُعاد توجيهها", "rozesłana wiadomość", "videresendt e-post",
];

/// Forward openers written as a sentence ending in a colon ("Begin forwarded message:").
#[rustfmt::skip]
pub const FORWARD_LINES: &[&str] = &[
    "begin forwarded message", "début du message réexpédié", "début du message transféré",
    "anfang der weitergeleiteten nachricht", "inicio del mensaje reenviado", "comienzo del mensaje reenviado",
    "início da mensagem reencaminhada", "início da mensagem encaminhada", "inizio messaggio inoltrato",
    "begin doorgestuurd bericht", "vidarebefordrat brev", "videresendt besked", "början på vidarebefordrat brev",
    "początek przekazywanej wiadomości", "начало пересылаемого сообщения", "転送されたメッセージ",
    "转发的邮件", "forwarded message", "začátek přeposílané zprávy", "začiatok preposlanej správy",
    "inizio del messaggio inoltrato", "begin van doorgestuurd bericht", "början av vidarebefordrat meddelande",
    "videresendt meddelelse", "videresendt melding", "välitetty viesti alkaa", "eleje a továbbított üzenetnek",
    "továbbított üzenet", "iletilen mesajın başlangıcı", "αρχή προωθημένου μηνύματος", "începutul mesajului redirecționat",
    "початок листа, що пересилається", "転送されたメッセージの始まり", "전달된 메시지 시작", "转发的邮件开始",
];

/// What phones and mail apps append: "Sent from my iPhone", "Envoyé de mon iPad", ….
#[rustfmt::skip]
pub const SENT_FROM_MY: &[&str] = &[
    "sent from my ", "envoyé de mon ", "envoyé depuis mon ", "von meinem ", "gesendet von meinem ",
    "enviado desde mi ", "enviado de mi ", "enviado do meu ", "enviado de meu ", "enviado desde o meu ",
    "enviado a partir do meu ", "verzonden vanaf mijn ", "verstuurd vanaf mijn ", "verzonden met mijn ",
    "inviato dal mio ", "inviato da ", "skickat från min ", "sendt fra min ", "sendt fra ", "wysłane z mojego ",
    "wysłano z mojego ", "отправлено с моего ", "надіслано з мого ", "odesláno z mého ", "lähetetty ",
    "从我的", "發自我的", "gönderildi ", "küldve ", "odoslané z môjho ", "trimis de pe ", "trimis de pe al meu ",
    "gửi từ ", "dikirim dari ", "στάλθηκε από το ", "נשלח מה-", "נשלח מ", "أرسلت من ", "sent fra min ",
    "lähetetty ", "enviat des del meu ", "poslano z mojega ", "poslano s mog ",
];

#[rustfmt::skip]
pub const SENT_FROM_APP: &[&str] = &[
    "sent from ", "sent via ", "sent using ", "sent with ", "sent by ", "get outlook for ", "envoyé de ",
    "envoyé depuis ", "envoyé avec ", "gesendet von ", "gesendet mit ", "enviado desde ", "enviado de ",
    "enviado con ", "enviado com ", "verzonden met ", "verstuurd met ", "inviato da ", "inviato con ",
    "skickat från ", "skickat med ", "sendt fra ", "sendt med ", "wysłane z ", "wysłano z ", "отправлено с ",
    "отправлено из ", "надіслано з ", "odesláno z ", "lähetetty ", "scarica outlook per ", "obtenir outlook pour ",
    "outlook für ", "descargar outlook para ", "obtener outlook para ", "hent outlook til ", "hämta outlook för ",
    "skaff deg outlook for ", "baixe o outlook para ", "baixar o outlook para ", "pobierz outlook dla ",
    "outlook downloaden voor ", "outlook voor ", "outlook per ", "outlook pour ", "outlook para ",
    "получите outlook для ", "скачайте outlook для ", "gửi từ ", "dikirim dari ", "trimis de pe ",
];

/// Words naming the device or app in a sign-off line that names no "my": "Von meinem
/// Mobilgerät gesendet", "Diese Nachricht wurde von meinem Android-Mobiltelefon … gesendet".
#[rustfmt::skip]
pub const DEVICES: &[&str] = &[
    "iphone", "ipad", "ipod", "android", "mobile", "mobil", "mobilgerät", "mobiltelefon", "smartphone",
    "blackberry", "galaxy", "samsung", "huawei", "phone", "téléphone", "telefon", "telefono", "teléfono",
    "móvil", "movil", "celular", "cellulare", "outlook", "k-9", "airmail", "mailbox", "yahoo", "gmail",
    "aol", "windows", "spark", "tablet", "handy", "smartfon", "телефона", "айфона", "cell", "device",
];

/// Send verbs for the device lines above, in the languages those lines are written in.
#[rustfmt::skip]
pub const SEND_VERBS: &[&str] = &[
    "sent", "envoyé", "gesendet", "enviado", "inviato", "verzonden", "verstuurd", "skickat", "sendt",
    "wysłane", "wysłano", "отправлено", "odesláno", "lähetetty", "從我的", "发自", "送信", "gönderildi", "보냄",
    "発信", "发送", "küldve", "trimis", "odoslané", "poslano", "надіслано", "στάλθηκε",
];

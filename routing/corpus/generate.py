"""Write the generated part of the corpus from the hand-written skeletons.

    python -m routing.corpus.generate [--per-category 1300] [--seed 14]

Each skeleton (`skeletons.txt`: one writer's situation, the same request in az, ru and en)
becomes many messages: slots filled with names, places, dates, FINs and numbers; the text
set in one of seven ways of writing (az, az without its letters, az in Cyrillic, ru, ru in
Latin letters, en, a mix switching language between sentences); and dressed as one of six
channels (an e-mail with greeting, signature and quoted history; an SMS with abbreviations
and no punctuation; WhatsApp; Telegram; web chat; a voicemail transcript with recognition
errors). A skeleton's messages all go to one side of the split, so the held-out part
measures requests the model never saw, not rewordings of them.

Output: routing/corpus/{train,heldout}/generated_<lang>.jsonl, the same for the same seed.
"""

import argparse
import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent
SKELETONS = CORPUS / "skeletons.txt"
HELDOUT_SHARE = 0.25
LANGUAGES = {  # way of writing → (share of messages, language its sentences come from)
    "az": (0.18, "az"),
    "az_ascii": (0.18, "az"),
    "az_cyrillic": (0.09, "az"),
    "ru": (0.16, "ru"),
    "ru_latin": (0.09, "ru"),
    "en": (0.15, "en"),
    "mixed": (0.15, "mixed"),
}
CHANNELS = {"email": 0.2, "sms": 0.17, "whatsapp": 0.17, "telegram": 0.13, "webchat": 0.18,
            "voice": 0.15}
# A voicemail is transcribed in the recogniser's script; nobody dictates Cyrillic Azerbaijani.
_NOT_SPOKEN = {"az_cyrillic", "ru_latin"}


@dataclass(frozen=True)
class Skeleton:
    key: str
    label: str
    misleading: bool
    sentences: dict[str, tuple[str, ...]]  # "az" / "ru" / "en" → aligned sentences


def read_skeletons(path: Path = SKELETONS) -> list[Skeleton]:
    skeletons: list[Skeleton] = []
    header: list[str] | None = None
    sentences: dict[str, tuple[str, ...]] = {}
    for line in [*path.read_text(encoding="utf-8").splitlines(), "@"]:
        if line.startswith("@"):
            if header:
                key, label, misleading = header
                if set(sentences) != {"az", "ru", "en"}:
                    raise ValueError(f"skeleton {key} lacks a language: {sorted(sentences)}")
                skeletons.append(Skeleton(key, label, misleading == "1", dict(sentences)))
            header = [part.strip() for part in line[1:].split("|")] if line[1:].strip() else None
            sentences = {}
        elif line[:3] in ("az:", "ru:", "en:"):
            sentences[line[:2]] = tuple(s.strip() for s in line[3:].split(" | "))
    return skeletons


# --------------------------------------------------------------------------- slot fillers

_NAMES = {
    "az": ["Məmmədova Günay", "Əliyev Rəşad", "Hüseynov Elvin", "Quliyeva Səbinə",
           "Karen Arutyunyan", "Arman Hakobyan", "Nəsibov Tural", "İsmayılova Aygün",
           "Babayev Fərid", "Ovanesyan Qarik", "Cəfərova Lalə", "Sarkisyan Anna"],
    "ru": ["Иванова Ольга", "Арутюнян Карен", "Мамедов Рашад", "Акопян Арман",
           "Гусейнова Айгюн", "Петросян Лилит", "Алиев Эльвин", "Саркисян Анна",
           "Кулиева Сабина", "Оганесян Гарик"],
    "en": ["Michael Thompson", "Karen Harutyunyan", "Rashad Aliyev", "Aygun Ismayilova",
           "Elvin Huseynov", "Anna Sargsyan", "Farid Babayev", "Leyla Mammadova"],
}
_CITIES = {
    "az": ["Xankəndi", "Bakı", "Sumqayıt", "Gəncə", "Şuşa", "Ağdam", "Füzuli", "Xocalı",
           "Ağdərə", "Lənkəran", "Mingəçevir", "Xırdalan"],
    "ru": ["Ханкенди", "Баку", "Сумгаит", "Гянджа", "Шуша", "Агдам", "Физули", "Ходжалы",
           "Ленкорань", "Мингечевир"],
    "en": ["Khankendi", "Baku", "Sumgait", "Ganja", "Shusha", "Aghdam", "Fuzuli", "Khojaly",
           "Lankaran", "Mingachevir"],
}
_CENTRES = {
    "az": ["1 nömrəli Bakı DOST mərkəzi", "Sumqayıt DOST mərkəzi", "Gəncə DOST mərkəzi",
           "Yasamal DOST mərkəzi", "Xətai DOST mərkəzi", "Şuşa DOST mərkəzi",
           "Miqrasiya xidmətinin Xankəndi bölməsi"],
    "ru": ["Бакинский центр DOST №1", "центр DOST в Сумгаите", "центр DOST в Гяндже",
           "Ясамальский центр DOST", "Хатаинский центр DOST",
           "ханкендинский отдел миграционной службы"],
    "en": ["Baku DOST centre No. 1", "the Sumgait DOST centre", "the Ganja DOST centre",
           "the Yasamal DOST centre", "the Khatai DOST centre",
           "the Khankendi office of the State Migration Service"],
}
_PORTALS = ["reintegration.gov.az", "e-social.gov.az", "my.gov.az", "migration.gov.az"]
_LINES = ["142", "919", "DOST 142"]
_MONTH_NAMES = {
    "az": ["yanvar", "fevral", "mart", "aprel", "may", "iyun", "iyul", "avqust", "sentyabr",
           "oktyabr", "noyabr", "dekabr"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
# The FIN's characters: digits and Latin capitals without I and O, which read as 1 and 0.
FIN_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def made_up_fin(resident: int) -> str:
    """The made-up FIN of the `resident`-th made-up resident, the same in every run and no
    other's below a billion: six characters of the alphabet and a digit (a FIN as the
    entities read it holds one). Residents type their own; one FIN typed by thousands would
    make them all possible matches of each other."""
    value, characters = resident * 7919 + 1_000_003, []
    for _ in range(6):
        value, character = divmod(value, len(FIN_ALPHABET))
        characters.append(FIN_ALPHABET[character])
    return "".join(characters) + str(resident % 10)


def _fill(text: str, language: str, rng: random.Random) -> str:
    def date() -> str:
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        if rng.random() < 0.5:
            return f"{day:02d}.{month:02d}.{rng.choice([2024, 2025, 2026])}"
        name = _MONTH_NAMES[language][month - 1]
        return f"{name} {day}" if language == "en" else f"{day} {name}"

    fillers: dict[str, Callable[[], str]] = {
        "name": lambda: rng.choice(_NAMES[language]),
        "city": lambda: rng.choice(_CITIES[language]),
        "centre": lambda: rng.choice(_CENTRES[language]),
        "portal": lambda: rng.choice(_PORTALS),
        "line": lambda: rng.choice(_LINES),
        "date": date,
        "fin": lambda: "".join(rng.choice(FIN_ALPHABET) for _ in range(6))
        + str(rng.randrange(10)),
        "phone": lambda: rng.choice(["+994 50 ", "050 ", "+994 55 ", "070 "])
        + f"{rng.randint(200, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "months": lambda: str(rng.randint(2, 7)),
        "amount": lambda: str(rng.choice([12, 20, 35, 48, 60, 95])),
        "appno": lambda: rng.choice(["№", "No ", "#", ""]) + f"{rng.randint(2024, 2026)}-"
        f"{rng.randint(1000, 99999)}",
    }
    return re.sub(r"\{(\w+)\}", lambda match: fillers[match.group(1)](), text)


# --------------------------------------------------------------------------- channels

_GREETINGS = {
    "az": ["Salam", "Salam, sabahınız xeyir", "Hörmətli DOST Agentliyi", "Hörmətli xanım/cənab",
           "Salam əleyküm", "Günaydın"],
    "ru": ["Здравствуйте", "Добрый день", "Уважаемые сотрудники", "Доброе утро", "Привет"],
    "en": ["Hello", "Dear Sir or Madam", "Good morning", "Hi", "Dear DOST team"],
}
_CLOSINGS = {
    "az": ["Hörmətlə", "Təşəkkür edirəm", "Əvvəlcədən təşəkkürlər", "Sağ olun"],
    "ru": ["С уважением", "Заранее спасибо", "Спасибо", "С уважением и надеждой на ответ"],
    "en": ["Kind regards", "Best regards", "Thank you in advance", "Sincerely", "Thanks"],
}
_SENT_FROM = ["Sent from my iPhone", "Отправлено с iPhone", "Samsung Galaxy cihazımdan göndərildi",
              "Get Outlook for Android"]
# Earlier messages of the thread, quoted: they say nothing of what this message wants.
_AGENCY_REPLIES = {
    "az": ["Müraciətiniz qeydə alınmışdır. Əlavə sualınız olarsa, 142 nömrəsinə zəng edin.",
           "Hörmətli vətəndaş, məktubunuz üçün təşəkkür edirik. "
           "Cavab 5 iş günü ərzində veriləcək."],
    "ru": ["Ваше обращение зарегистрировано. Если у вас есть вопросы, звоните на 142.",
           "Уважаемый гражданин, благодарим за письмо. Ответ будет дан в течение 5 рабочих дней."],
    "en": ["Your message has been registered. For further questions please call 142.",
           "Dear citizen, thank you for your letter. An answer will follow within 5 working days."],
}
_QUOTE_HEADERS = {
    "az": "{date} tarixində DOST Agentliyi <info@dost.gov.az> yazdı:",
    "ru": "{date}, DOST Agentliyi <info@dost.gov.az> пишет:",
    "en": "On {date}, DOST Agentliyi <info@dost.gov.az> wrote:",
}
_SUBJECTS = {"az": "Müraciət", "ru": "Обращение", "en": "Your message"}
_SMS_WORDS = {  # whole words residents shorten on a phone keyboard
    "salam": "slm", "zəhmət": "zhmt", "olmasa": "olmasa", "təşəkkür": "tşk", "edirəm": "edirem",
    "здравствуйте": "здрасте", "пожалуйста": "пжл", "спасибо": "спс", "сейчас": "щас",
    "please": "pls", "you": "u", "thanks": "thx", "are": "r", "for": "4", "to": "2",
    "because": "coz", "message": "msg",
}
_FILLERS = {"az": ["alo", "eee", "yəni", "hə"], "ru": ["алло", "ээ", "ну", "вот"],
            "en": ["hello", "uh", "um", "so"]}
# How voicemails and short messages of every kind end: they say nothing of the category.
_CALL_BACK = {
    "az": ["Zəhmət olmasa, mənə geri zəng edin.", "Geri zəng edin, nömrəm {phone}.",
           "Xahiş edirəm zəng edin."],
    "ru": ["Пожалуйста, перезвоните мне.", "Перезвоните, мой номер {phone}.",
           "Прошу связаться со мной."],
    "en": ["Please call me back.", "Call me back on {phone}.", "Please get in touch."],
}
_EMOJI = ["🙏", "🙏🙏", "😔", "🙂", "!!", "??", "❗"]


def _sentences(skeleton: Skeleton, source: str, rng: random.Random) -> list[tuple[str, str]]:
    """(language, sentence) pairs; a mixed message switches language between sentences."""
    if source != "mixed":
        pairs = [(source, s) for s in skeleton.sentences[source]]
    else:
        other = rng.choice(["ru", "en", "ru"])
        count = len(skeleton.sentences["az"])
        first = rng.choice(["az", other])
        languages = [first if i % 2 == 0 else ({"az", other} - {first}).pop()
                     for i in range(count)]
        if count == 1:
            languages = ["az"]
        pairs = [(lang, skeleton.sentences[lang][i]) for i, lang in enumerate(languages)]
    return [(lang, _fill(sentence, lang, rng)) for lang, sentence in pairs]


def _email(body: list[tuple[str, str]], lang: str, rng: random.Random) -> str:
    parts = [rng.choice(_GREETINGS[lang]) + ","] if rng.random() < 0.9 else []
    if rng.random() < 0.35:   # the long-winded opening of a formal letter
        parts.append({"az": "Sizə aşağıdakı məsələ ilə bağlı müraciət edirəm.",
                      "ru": "Обращаюсь к вам по следующему вопросу.",
                      "en": "I am writing to you regarding the following matter."}[lang])
    paragraph = " ".join(sentence for _, sentence in body)
    parts.append(paragraph)
    signature = [rng.choice(_CLOSINGS[lang]) + ",", _fill("{name}", lang, rng)]
    if rng.random() < 0.5:
        signature.append(_fill("{phone}", lang, rng))
    if rng.random() < 0.3:
        signature.append("FIN: " + _fill("{fin}", lang, rng))
    text = "\n\n".join(parts) + "\n\n"
    text += ("-- \n" if rng.random() < 0.4 else "") + "\n".join(signature)
    roll = rng.random()
    quoted = rng.choice(_AGENCY_REPLIES[lang])
    if roll < 0.25:
        header = _fill(_QUOTE_HEADERS[lang], lang, rng)
        text += f"\n\n{header}\n" + "\n".join(f"> {line}" for line in quoted.split(". "))
    elif roll < 0.4:   # Outlook quotes the history below a header block, unprefixed
        text += (f"\n\n-----Original Message-----\nFrom: DOST Agentliyi <info@dost.gov.az>\n"
                 f"Sent: {_fill('{date}', 'en', rng)}\nSubject: RE: {_SUBJECTS[lang]}\n\n{quoted}")
    return text


def _sms(body: list[tuple[str, str]], lang: str, rng: random.Random) -> str:
    text = " ".join(sentence for _, sentence in body)
    if rng.random() < 0.5:
        text = rng.choice(_GREETINGS[lang]).split(",")[0] + " " + text
    text = re.sub(r"[.,!?:;«»\"()]", " ", text.lower())
    words = [_SMS_WORDS.get(w, w) if rng.random() < 0.7 else w for w in text.split()]
    return " ".join(words)


def _chat(body: list[tuple[str, str]], lang: str, rng: random.Random) -> str:
    lines = [sentence for _, sentence in body]
    if rng.random() < 0.6:
        lines.insert(0, rng.choice(_GREETINGS[lang]).split(",")[0])
    joiner = "\n" if rng.random() < 0.4 else " "
    text = joiner.join(lines)
    if rng.random() < 0.3:
        text = text.lower()
    if rng.random() < 0.3:
        text += " " + rng.choice(_EMOJI)
    return text


def _webchat(body: list[tuple[str, str]], lang: str, rng: random.Random) -> str:
    text = " ".join(sentence for _, sentence in body)
    if rng.random() < 0.4:
        text = rng.choice(_GREETINGS[lang]).split(",")[0] + ", " + text
    return text


def _voice(body: list[tuple[str, str]], lang: str, rng: random.Random) -> str:
    words = [rng.choice(_FILLERS[lang])]
    for sentence_lang, sentence in body:
        for word in re.sub(r"[.,!?:;«»\"()]", " ", sentence.lower()).split():
            roll = rng.random()
            if roll < 0.04:
                continue                               # a word the recogniser lost
            if roll < 0.12 and len(word) > 4:
                word = _misheard(word, rng)
            words.append(word)
            if rng.random() < 0.03:
                words.append(rng.choice(_FILLERS[sentence_lang]))
    return " ".join(words)


def _misheard(word: str, rng: random.Random) -> str:
    """One recognition error: a letter dropped, doubled or swapped for a neighbour's sound."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + word[i + 1:]
    if kind < 0.6:
        return word[:i] + word[i] + word[i:]
    swaps = {"ə": "e", "e": "ə", "ı": "i", "i": "ı", "о": "а", "а": "о", "е": "и", "o": "u",
             "a": "e", "k": "q", "q": "k", "s": "z", "т": "д", "d": "t"}
    return word[:i] + swaps.get(word[i], word[i]) + word[i + 1:]


_CALL_BACK_SHARE = {"voice": 0.5, "sms": 0.15, "whatsapp": 0.15, "telegram": 0.1, "email": 0.1}
_DRESS = {"email": _email, "sms": _sms, "whatsapp": _chat, "telegram": _chat,
          "webchat": _webchat, "voice": _voice}

# --------------------------------------------------------------------------- scripts

_AZ_ASCII = [  # (letter, the ways residents type it without the Azerbaijani keyboard)
    ("ə", ["e", "e", "a"]), ("Ə", ["E"]), ("ı", ["i"]), ("İ", ["I"]), ("ş", ["s", "sh"]),
    ("Ş", ["S", "Sh"]), ("ç", ["c", "ch"]), ("Ç", ["C", "Ch"]), ("ğ", ["g", "gh"]),
    ("Ğ", ["G"]), ("ö", ["o"]), ("Ö", ["O"]), ("ü", ["u"]), ("Ü", ["U"]),
]
_AZ_CYRILLIC = {
    "a": "а", "b": "б", "c": "ҹ", "ç": "ч", "d": "д", "e": "е", "ə": "ә", "f": "ф", "g": "ҝ",
    "ğ": "ғ", "h": "һ", "x": "х", "ı": "ы", "i": "и", "j": "ж", "k": "к", "q": "г", "l": "л",
    "m": "м", "n": "н", "o": "о", "ö": "ө", "p": "п", "r": "р", "s": "с", "ş": "ш", "t": "т",
    "u": "у", "ü": "ү", "v": "в", "y": "ј", "z": "з",
}
_RU_LATIN = [  # (letter, the spellings residents use without a Cyrillic keyboard)
    ("щ", ["sch", "shch"]), ("ж", ["zh", "j"]), ("ш", ["sh", "w"]), ("ч", ["ch", "4"]),
    ("ц", ["ts", "c"]), ("ю", ["yu", "ju"]), ("я", ["ya", "ja"]), ("ё", ["yo", "e"]),
    ("х", ["h", "kh"]), ("й", ["y", "i", "j"]), ("ы", ["y", "i"]), ("э", ["e"]),
    ("ь", ["", "'"]), ("ъ", [""]), ("а", ["a"]), ("б", ["b"]), ("в", ["v"]), ("г", ["g"]),
    ("д", ["d"]), ("е", ["e"]), ("з", ["z"]), ("и", ["i"]), ("к", ["k"]), ("л", ["l"]),
    ("м", ["m"]), ("н", ["n"]), ("о", ["o"]), ("п", ["p"]), ("р", ["r"]), ("с", ["s"]),
    ("т", ["t"]), ("у", ["u"]), ("ф", ["f"]),
]


def _az_ascii(text: str, rng: random.Random) -> str:
    for letter, spellings in _AZ_ASCII:
        text = text.replace(letter, rng.choice(spellings))
    return text


def _az_cyrillic(text: str, rng: random.Random) -> str:
    """Soviet-era Azerbaijani Cyrillic; web addresses and Latin tokens (FINs) stay."""
    def convert(match: re.Match[str]) -> str:
        word = match.group(0)
        if "." in word or "@" in word or any(c.isdigit() for c in word):
            return word
        out = []
        for char in word:
            lower = char.lower()
            mapped = _AZ_CYRILLIC.get("i" if char == "İ" else lower, char)
            out.append(mapped.upper() if char.isupper() else mapped)
        return "".join(out)
    return re.sub(r"[\w@]+(?:\.[\w@]+)*", convert, text)


def _ru_latin(text: str, rng: random.Random) -> str:
    style = {letter: rng.choice(spellings) for letter, spellings in _RU_LATIN}
    out = []
    for char in text:
        mapped = style.get(char.lower())
        if mapped is None:
            out.append(char)
        else:
            out.append(mapped.capitalize() if char.isupper() else mapped)
    return "".join(out)


_SCRIPTS: dict[str, Callable[[str, random.Random], str]] = {
    "az_ascii": _az_ascii, "az_cyrillic": _az_cyrillic, "ru_latin": _ru_latin,
}

# --------------------------------------------------------------------------- messages


def message(skeleton: Skeleton, rng: random.Random) -> dict[str, object]:
    lang = _weighted(rng, {name: share for name, (share, _) in LANGUAGES.items()})
    source = LANGUAGES[lang][1]
    channels = {name: share for name, share in CHANNELS.items()
                if not (name == "voice" and lang in _NOT_SPOKEN)}
    channel = _weighted(rng, channels)
    body = _sentences(skeleton, source, rng)
    if len(body) > 2 and rng.random() < 0.3:   # a writer who leaves out a detail
        body.pop(rng.randrange(1, len(body)))
    frame_lang = body[0][0]
    if rng.random() < _CALL_BACK_SHARE.get(channel, 0.0):
        body.append((frame_lang, _fill(rng.choice(_CALL_BACK[frame_lang]), frame_lang, rng)))
    text = _DRESS[channel](body, frame_lang, rng)
    if lang in _SCRIPTS:
        text = _SCRIPTS[lang](text, rng)
    if channel == "email" and rng.random() < 0.25:   # the phone's line, in its own script
        text = _with_device_line(text, rng)
    return {"text": text, "label": skeleton.label, "lang": lang,
            "skeleton": f"gen-{skeleton.key}", "channel": channel,
            "misleading": skeleton.misleading}


def _with_device_line(text: str, rng: random.Random) -> str:
    quoted = text.find("\n\n> ")
    cut = text.rfind("\n\n", 0, quoted) if quoted >= 0 else len(text)
    return text[:cut] + "\n\n" + rng.choice(_SENT_FROM) + text[cut:]


def heldout_keys(skeletons: list[Skeleton], share: float = HELDOUT_SHARE) -> set[str]:
    """A fixed share of each category's skeletons, chosen by a hash of the key (stable when
    skeletons are added)."""
    by_label: dict[str, list[Skeleton]] = defaultdict(list)
    for skeleton in skeletons:
        by_label[skeleton.label].append(skeleton)
    chosen = set()
    for group in by_label.values():
        ranked = sorted(group, key=lambda s: hashlib.sha256(s.key.encode()).hexdigest())
        chosen |= {s.key for s in ranked[: round(len(group) * share)]}
    return chosen


def generate(per_category: int, seed: int) -> dict[tuple[str, str], list[dict[str, object]]]:
    """Messages by (split, lang): `per_category` of each category, spread evenly over its
    skeletons."""
    rng = random.Random(seed)
    skeletons = read_skeletons()
    heldout = heldout_keys(skeletons)
    by_label: dict[str, list[Skeleton]] = defaultdict(list)
    for skeleton in skeletons:
        by_label[skeleton.label].append(skeleton)
    files: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for label in sorted(by_label):
        group = by_label[label]
        for i in range(per_category):
            skeleton = group[i % len(group)]
            record = message(skeleton, rng)
            split = "heldout" if skeleton.key in heldout else "train"
            files[split, str(record["lang"])].append(record)
    return files


def _weighted(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.corpus.generate",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-category", type=int, default=1_300)
    parser.add_argument("--seed", type=int, default=14)
    arguments = parser.parse_args(argv)
    for old in CORPUS.glob("*/generated_*.jsonl"):
        old.unlink()
    files = generate(arguments.per_category, arguments.seed)
    for (split, lang), records in sorted(files.items()):
        path = CORPUS / split / f"generated_{lang}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
        print(f"{path.relative_to(CORPUS.parent.parent)}: {len(records)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

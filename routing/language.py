"""Which language a resident wrote in: "az", "ru" or "en".

Why counting rules rather than a statistical language identifier: only three languages
reach these services, and they separate on cheap, explainable evidence.

- Script first. Russian is the only one of the three written in Cyrillic, except for
  older residents who still write Azerbaijani in its Soviet-era Cyrillic alphabet; its
  letters ә ғ ҹ һ ј ө ү never occur in Russian, so they mark such text as az.
- In Latin script every word is a vote. A word with ə ğ ı ö ü ş ç is Azerbaijani (no
  English word has them); so is a frequent Azerbaijani word or suffix, which catches
  text typed on a phone without those letters ("salam, qeydiyyatdan kecmek isteyirem").
  A frequent English function word votes for en. Votes are counted per word so that a
  mostly English message with an Azerbaijani greeting or name stays English.
- Nothing decides (only digits, a name, "OK", a tie): the caller's default applies,
  for instance the channel's or the contact's last known language.

General-purpose identifiers trained on long text guess badly on a ten-word SMS typed
without diacritics and would add a dependency and start-up time for no gain here.
"""

import operator
import re

from routing.text import fold_word

LANGUAGES = ("az", "ru", "en")

# A language is visible in a few sentences; reading further only costs time.
_SAMPLE_CHARS = 1_000
_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_AZ_LATIN = frozenset("əğıöüşçƏĞÖÜŞÇİ")
_AZ_CYRILLIC = frozenset("әғҹһјөүӘҒҸҺЈӨҮ")
# Frequent words, folded to ASCII, as residents type them.
_AZ_WORD_LIST = """
    salam sabahiniz axsaminiz xeyir gunaydin hormetli tesekkur tesekkurler sag olun
    nece necedir ne niye hansi harada haradadir haraya kim neler nedir vaxt zaman
    men mene menim sen siz sizin sizden biz bizim bu o onu ona onun hemin
    ve ile ucun amma ancaq lakin hele artiq yene cox az daha indi sonra evvel
    var yox yoxdur deyil beli olar olmaz olur oldu olmur olsun olmasa
    xahis edirem edin edirik zehmet komek kome bilerem bilmirem bilirsiniz bilersiniz
    isteyirem isteyirik lazimdir lazim gerek mumkun mumkundur
    qeydiyyat qeydiyyata qeydiyyatdan qeydiyyatda muraciet muracietim muraciete
    senedler sened senedlerim vesiqe vesiqesi sexsiyyet unvan unvani nomre nomrem
    pensiya pensiyam muavinet muavineti elillik odenis odenilmir gun ay il saat saatlari
    vetendas vetendasliq yasayis icaze geri qayidan
"""
_AZ_SUFFIXES = (
    "maq", "mek", "iram", "irem", "uram", "urem", "iriq", "irik",
    "dir", "dur", "diq", "dik", "niz", "yib", "mayib", "meyib", "ilir", "unur", "sinda",
)  # fmt: skip
_AZ_SUFFIX_MIN_WORD = 5
_EN_WORD_LIST = """
    the and are i my me you your to of for with have has had can could would should
    how what when where why which who please hello hi dear need help want not do does
    did it this that there am was were be been will from about get any thank thanks
    regards sincerely kind best yours since still yet
"""
_AZ_WORDS = frozenset(_AZ_WORD_LIST.split())
_EN_WORDS = frozenset(_EN_WORD_LIST.split())


def detect_language(text: str, default: str = "az") -> str:
    """The language of `text`, or `default` when the text gives no evidence."""
    # Letters and words never span whitespace: the sample's evidence is the sum of its
    # whitespace-separated chunks', each worked out once (`_Evidence`).
    evidence = list(map(_EVIDENCE.__getitem__, text[:_SAMPLE_CHARS].split()))
    cyrillic = sum(map(_CYRILLIC_LETTERS, evidence))
    if cyrillic and cyrillic * 2 > sum(map(_LETTERS, evidence)):
        return "az" if any(map(_AZ_CYRILLIC_LETTERS, evidence)) else "ru"
    # An Azerbaijani vote is +1 and an English one -1: the sign of the sum says which
    # language has more.
    balance = sum(map(_BALANCE, evidence))
    if balance > 0:
        return "az"
    if balance < 0:
        return "en"
    return default


# What one chunk of text says: its Cyrillic letters, its letters, whether it holds a letter
# of Azerbaijani Cyrillic, and the balance of its words' votes.
_ChunkEvidence = tuple[int, int, bool, int]
_CYRILLIC_LETTERS, _LETTERS, _AZ_CYRILLIC_LETTERS, _BALANCE = map(operator.itemgetter,
                                                                  range(4))


class _Evidence(dict[str, _ChunkEvidence]):
    """The evidence of each whitespace-separated chunk of text, worked out once: residents
    reuse a few thousand words, and a dictionary look-up per chunk costs a fraction of
    the regular expressions that read it."""

    def __missing__(self, chunk: str) -> _ChunkEvidence:
        if len(self) >= _VOTE_CACHE_SIZE:
            self.clear()
        words = _WORD.findall(chunk)
        balance = sum(map(_VOTES.__getitem__, words))
        if chunk.isascii():   # its words are all letters, none Cyrillic
            evidence = self[chunk] = (0, sum(map(len, words)), False, balance)
            return evidence
        # Every letter is in a word: the regular expression takes in all that isalpha().
        letters = sum(len(word) if word.isalpha() else sum(map(str.isalpha, word))
                      for word in words)
        evidence = self[chunk] = (len(_CYRILLIC.findall(chunk)), letters,
                                  not _AZ_CYRILLIC.isdisjoint(chunk), balance)
        return evidence


def clear_cache() -> None:
    """Forget the evidence of every word and chunk seen so far."""
    _VOTES.clear()
    _EVIDENCE.clear()


_AZ, _EN, _NEITHER = 1, -1, 0


class _Votes(dict[str, int]):
    """Each word's vote, worked out once: residents reuse a few thousand words. A plain
    dictionary answers a known word faster than a cached function."""

    def __missing__(self, word: str) -> int:
        if len(self) >= _VOTE_CACHE_SIZE:
            self.clear()
        vote = self[word] = _vote(word)
        return vote


_VOTE_CACHE_SIZE = 65_536
_VOTES = _Votes()
_EVIDENCE = _Evidence()


def _vote(word: str) -> int:
    folded = fold_word(word)
    if not _AZ_LATIN.isdisjoint(word) or _looks_azerbaijani(folded):
        return _AZ
    return _EN if folded in _EN_WORDS else _NEITHER


def _looks_azerbaijani(folded_word: str) -> bool:
    return folded_word in _AZ_WORDS or (
        len(folded_word) >= _AZ_SUFFIX_MIN_WORD and folded_word.endswith(_AZ_SUFFIXES)
    )

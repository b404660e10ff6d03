"""One citation style for the whole book: author-year in the text and in the lists.

sphinxcontrib-bibtex formats the in-text citations as "Xiao et al., 2017"
(``bibtex_reference_style: author_year``), but its list styles label the
entries "[XRV17]" (alpha) or "[1]" (plain), so a citation's text and the label
it links to differ. This extension registers a pybtex label style that writes
the same "Xiao et al., 2017" in the list, and a formatting style ``authoryear``
(unsrt's entries, sorted by author and year) that uses it; _config.yml selects
it with ``bibtex_default_style: authoryear``. Names are rendered from LaTeX, so
an accent (Doll{\\'a}r) gives "Dollár", never "DollDollar".
"""

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _plain(latex: str) -> str:
    return Text.from_latex(latex).render_as("text")


def _surname(person) -> str:
    return _plain(" ".join(person.prelast_names + person.last_names))


def author_year(entry) -> str:
    """'Rosenblatt, 1958', 'Hochreiter and Schmidhuber, 1997', 'Xiao et al., 2017'."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in persons if _surname(p) != "others"]
    year = entry.fields.get("year", "n.d.")
    if not names:
        who = _plain(entry.fields.get("organization", entry.key))
    elif len(names) == 1 and len(persons) == 1:
        who = names[0]
    elif len(names) == 2 and len(persons) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Author-year labels; works that share one get 1997a, 1997b in a list."""

    def format_labels(self, sorted_entries):
        labels = [author_year(e) for e in sorted_entries]
        total, seen = Counter(labels), Counter()
        for label in labels:
            if total[label] > 1:
                seen[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

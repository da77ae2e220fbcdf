/* bot.core._scan: the two per-entry loops of the matcher that Python runs slowly, in C.
 *
 * Optional: setup.py builds it when a C compiler is there, and bot.core.textfold falls back to the
 * Python code doing the same (tests/test_scan.py checks that both give the same results).
 *
 *   fold(text, table) -> str | None
 *       Each character c of text replaced by table[c] (the fold of c: lower case, Latin accents gone,
 *       apostrophes one character, separators spaces). None when some character has no one-to-one
 *       fold (table[c] is NUL, or c is beyond the table): the caller takes its general path.
 *
 *   add_words(pre, words) -> None
 *       Add to the set `words` the whitespace-separated tokens of `pre` and, for a token holding an
 *       apostrophe, its non-empty parts between apostrophes (Kharkiv's -> kharkiv's, kharkiv, s).
 *
 * Why add_words keeps its own table of token strings: an entry's ~130 tokens are mostly words seen
 * before, and a set of fresh strings costs a string object and a hash per token. The table maps the
 * characters of a token to a string made earlier (whose hash is cached), so a known token costs a
 * probe. The table is bounded (TABLE_SLOTS / 2 tokens; then it starts over) and holds one reference
 * per string. The GIL is held throughout: no other thread sees the table half-updated.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define TABLE_SLOTS (1 << 17) /* a power of two; at most half of it used */

typedef struct {
    Py_uhash_t hash;
    PyObject *token; /* NULL: empty slot */
} Slot;

static Slot *table = NULL;
static Py_ssize_t table_used = 0;

static void
table_clear(void)
{
    if (table == NULL)
        return;
    for (Py_ssize_t i = 0; i < TABLE_SLOTS; i++) {
        Py_CLEAR(table[i].token);
    }
    table_used = 0;
}

/* The folding loops, once per width of the text (CHAR) and of the table (MAP): the first pass finds
 * the widest folded character (the width of the result) or a character that cannot be folded one for
 * one; the second writes. */
#define FOLD(NAME, CHAR, MAP)                                                                             \
    static PyObject *NAME(const CHAR *p, Py_ssize_t n, const MAP *map, Py_ssize_t size)                  \
    {                                                                                                     \
        MAP maxchar = 0;                                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) {                                                              \
            if (p[i] >= size || map[p[i]] == 0)                                                           \
                Py_RETURN_NONE;                                                                           \
            if (map[p[i]] > maxchar)                                                                      \
                maxchar = map[p[i]];                                                                      \
        }                                                                                                 \
        PyObject *out = PyUnicode_New(n, maxchar);                                                        \
        if (out == NULL)                                                                                  \
            return NULL;                                                                                  \
        int okind = PyUnicode_KIND(out);                                                                  \
        void *odata = PyUnicode_DATA(out);                                                                \
        if (okind == PyUnicode_1BYTE_KIND) {                                                              \
            Py_UCS1 *o = odata;                                                                           \
            for (Py_ssize_t i = 0; i < n; i++)                                                            \
                o[i] = (Py_UCS1)map[p[i]];                                                                \
        }                                                                                                 \
        else {                                                                                            \
            for (Py_ssize_t i = 0; i < n; i++)                                                            \
                PyUnicode_WRITE(okind, odata, i, map[p[i]]);                                              \
        }                                                                                                 \
        return out;                                                                                       \
    }

FOLD(fold_1, Py_UCS1, Py_UCS2)
FOLD(fold_2, Py_UCS2, Py_UCS2)
FOLD(fold_4, Py_UCS4, Py_UCS2)

static PyObject *
fold(PyObject *self, PyObject *args)
{
    PyObject *text, *map;
    if (!PyArg_ParseTuple(args, "UU:fold", &text, &map))
        return NULL;
    if (PyUnicode_KIND(map) != PyUnicode_2BYTE_KIND) {
        PyErr_SetString(PyExc_ValueError, "fold: the table must hold characters of U+0100..U+FFFF");
        return NULL;
    }
    const Py_UCS2 *m = PyUnicode_2BYTE_DATA(map);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), size = PyUnicode_GET_LENGTH(map);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        return fold_1(PyUnicode_1BYTE_DATA(text), n, m, size);
    case PyUnicode_2BYTE_KIND:
        return fold_2(PyUnicode_2BYTE_DATA(text), n, m, size);
    default:
        return fold_4(PyUnicode_4BYTE_DATA(text), n, m, size);
    }
}

/* Is `token` (a str) the characters start..end of data? */
static int
same(PyObject *token, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (PyUnicode_GET_LENGTH(token) != end - start)
        return 0;
    int tkind = PyUnicode_KIND(token);
    const void *tdata = PyUnicode_DATA(token);
    if (tkind == kind) /* same width: same characters exactly when same bytes */
        return memcmp(tdata, (const char *)data + start * kind, (size_t)(end - start) * kind) == 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (PyUnicode_READ(tkind, tdata, i - start) != PyUnicode_READ(kind, data, i))
            return 0;
    }
    return 1;
}

/* Add the token pre[start:end] (FNV-1a hash h) to words, through the table. 0 on success, -1 with an
 * exception set. */
static int
add_token(PyObject *words, PyObject *pre, int kind, const void *data, Py_ssize_t start, Py_ssize_t end,
          Py_uhash_t h)
{
    size_t mask = TABLE_SLOTS - 1, at = (size_t)h & mask;
    while (table[at].token != NULL) {
        if (table[at].hash == h && same(table[at].token, kind, data, start, end))
            return PySet_Add(words, table[at].token);
        at = (at + 1) & mask;
    }
    PyObject *token = PyUnicode_Substring(pre, start, end);
    if (token == NULL)
        return -1;
    if (table_used >= TABLE_SLOTS / 2) {
        table_clear();
        at = (size_t)h & mask; /* every slot is empty now */
    }
    table[at].hash = h;
    table[at].token = token; /* the table's reference */
    table_used++;
    return PySet_Add(words, token);
}

#define FNV_START 1469598103934665603ULL
#define FNV_STEP(h, c) (((h) ^ (Py_uhash_t)(c)) * 1099511628211ULL)

/* The tokenising loop, once per character width (CHAR: Py_UCS1, Py_UCS2 or Py_UCS4), so that reading a
 * character is an array index rather than a switch on the width. */
#define ADD_WORDS(NAME, CHAR)                                                                             \
    static int NAME(PyObject *words, PyObject *pre, int kind, const CHAR *p, Py_ssize_t n)               \
    {                                                                                                     \
        Py_ssize_t i = 0;                                                                                 \
        while (i < n) {                                                                                   \
            while (i < n && Py_UNICODE_ISSPACE(p[i]))                                                     \
                i++;                                                                                      \
            if (i >= n)                                                                                   \
                break;                                                                                    \
            Py_ssize_t start = i;                                                                         \
            int apostrophe = 0;                                                                           \
            Py_uhash_t h = FNV_START;                                                                     \
            for (; i < n && !Py_UNICODE_ISSPACE(p[i]); i++) {                                             \
                apostrophe |= p[i] == '\'';                                                               \
                h = FNV_STEP(h, p[i]);                                                                    \
            }                                                                                             \
            if (add_token(words, pre, kind, p, start, i, h) < 0)                                          \
                return -1;                                                                                \
            if (!apostrophe)                                                                              \
                continue;                                                                                 \
            Py_ssize_t part = start;                                                                      \
            h = FNV_START;                                                                                \
            for (Py_ssize_t j = start; j <= i; j++) {                                                     \
                if (j < i && p[j] != '\'') {                                                              \
                    h = FNV_STEP(h, p[j]);                                                                \
                    continue;                                                                             \
                }                                                                                         \
                if (j > part && add_token(words, pre, kind, p, part, j, h) < 0)                           \
                    return -1;                                                                            \
                part = j + 1;                                                                             \
                h = FNV_START;                                                                            \
            }                                                                                             \
        }                                                                                                 \
        return 0;                                                                                         \
    }

ADD_WORDS(add_words_1, Py_UCS1)
ADD_WORDS(add_words_2, Py_UCS2)
ADD_WORDS(add_words_4, Py_UCS4)

static PyObject *
add_words(PyObject *self, PyObject *args)
{
    PyObject *pre, *words;
    if (!PyArg_ParseTuple(args, "UO!:add_words", &pre, &PySet_Type, &words))
        return NULL;
    if (table == NULL) {
        table = PyMem_Calloc(TABLE_SLOTS, sizeof(Slot));
        if (table == NULL)
            return PyErr_NoMemory();
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(pre);
    int kind = PyUnicode_KIND(pre), failed;
    const void *data = PyUnicode_DATA(pre);
    if (kind == PyUnicode_1BYTE_KIND)
        failed = add_words_1(words, pre, kind, data, n);
    else if (kind == PyUnicode_2BYTE_KIND)
        failed = add_words_2(words, pre, kind, data, n);
    else
        failed = add_words_4(words, pre, kind, data, n);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
clear(PyObject *self, PyObject *unused)
{
    table_clear();
    Py_RETURN_NONE;
}

static PyObject *
known(PyObject *self, PyObject *unused)
{
    return PyLong_FromSsize_t(table_used);
}

static PyMethodDef methods[] = {
    {"fold", fold, METH_VARARGS, "fold(text, table) -> the text folded character by character, or None."},
    {"add_words", add_words, METH_VARARGS, "add_words(pre, words): add pre's tokens and apostrophe parts."},
    {"clear", clear, METH_NOARGS, "Forget every token string add_words keeps."},
    {"known", known, METH_NOARGS, "How many token strings add_words keeps."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}

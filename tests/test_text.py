import random

import pytest

from classifier.text import find_quote, make_windows, normalise, segment


def test_normalise_keeps_a_map_back_to_the_raw_text():
    raw = "Face\u00a0 search\r\n\r\n\r\n\r\nby  ﬁle\u00ad name\t end  "
    norm = normalise(raw)
    assert norm.text == "Face search\n\nby file name end"
    for i, ch in enumerate(norm.text):
        src = raw[norm.source_index[i]]
        assert ch == src or ch in "fi " or src in "\u00a0\t\r\nﬁ", (i, ch, src)
    start = norm.text.index("file")
    assert raw[norm.source_index[start]] == "ﬁ" and raw[norm.source_index[start + 2]] == "l"
    assert normalise(norm.text).text == norm.text  # idempotent


def test_segments_split_lines_sentences_and_bullets():
    text = "Model X200 | PoE\nIt matches faces. It alerts police! • Loitering • Fights\nend"
    segs = [text[s.start : s.end] for s in segment(text)]
    assert segs == ["Model X200 | PoE", "It matches faces.", "It alerts police!", "• Loitering", "• Fights", "end"]


def test_windows_cover_every_token_and_keep_offsets(tokenizer):
    rng = random.Random(3)
    words = ["camera", "matches", "faces", "against", "watch", "list.", "Resolution:", "4K", "|", "PoE", "\n"]
    text = normalise(" ".join(rng.choice(words) for _ in range(3000))).text
    windows = make_windows(text, tokenizer, max_tokens=64, overlap_tokens=16)
    assert len(windows) > 10
    # every word piece of the document falls inside some window: nothing is silently ignored
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    covered = [any(w.start <= s and e <= w.end for w in windows) for s, e in enc["offset_mapping"]]
    assert all(covered)
    for w in windows:
        assert w.n_tokens <= 64
        piece = text[w.start : w.end]
        assert len(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= 64 + 2
        for seg in w.segments:
            assert w.start <= seg.start < seg.end <= w.end


def test_long_segment_is_cut_at_word_starts(tokenizer):
    text = "unbelievably " * 400
    windows = make_windows(text.strip(), tokenizer, max_tokens=50, overlap_tokens=0)
    for w in windows:
        chunk = text[w.start : w.end]
        assert chunk.strip().startswith("unbelievably"), chunk[:20]


def test_window_budget_is_validated(tokenizer):
    with pytest.raises(ValueError, match="at least 8"):
        make_windows("some text", tokenizer, max_tokens=4)


def test_find_quote_tolerates_line_breaks_but_not_other_words():
    text = "The VX-9 compares every face with a watch list of up to\n100,000 enrolled persons.\n"
    span = find_quote(text, "watch list of up to 100,000 enrolled")
    assert span is not None and text[span.start : span.end] == "watch list of up to\n100,000 enrolled"
    assert find_quote(text, "watch list of up to 200,000 enrolled") is None
    assert find_quote(text, "   ") is None

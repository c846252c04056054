"""The Dockerfile parser: directives, continuations, comments, flags, heredocs, errors."""

from __future__ import annotations

import pytest

from services.engine.build.dockerfile import DockerfileError, parse


def test_instructions_keep_their_line_and_flags() -> None:
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "\n"
        "from busybox AS base\n"
        "# a comment\n"
        "COPY --chown=1:2 --from=base a b\n"
        'CMD ["sh", "-c", "echo hi"]\n'
    )
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert [(i.keyword, i.line) for i in df.instructions] == [("FROM", 3), ("COPY", 5), ("CMD", 6)]
    copy = df.instructions[1]
    assert copy.flags == (("chown", "1:2"), ("from", "base"))
    assert copy.text == "a b"
    assert df.instructions[2].exec_form == ["sh", "-c", "echo hi"]
    assert df.instructions[0].exec_form is None


def test_continuations_skip_comments_and_blank_lines() -> None:
    df = parse("FROM scratch\nRUN echo a \\\n  # not part of it\n\n  && echo b\nENV A=1\n")
    run = df.instructions[1]
    assert run.text == "echo a   && echo b"
    assert run.line == 2
    assert df.instructions[2].line == 6


def test_escape_directive_makes_backtick_the_continuation() -> None:
    df = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo x\n")
    assert df.escape == "`"
    assert df.instructions[1].text == "dir c:\\   && echo x"


def test_directives_end_at_the_first_other_line() -> None:
    df = parse("FROM scratch\n# escape=`\nRUN a \\\n b\n")
    assert df.directives == {}
    assert df.instructions[1].text == "a  b"


def test_heredocs_for_run_and_copy() -> None:
    df = parse(
        "FROM busybox\n"
        "RUN <<EOF\n"
        "echo one\n"
        "echo two\n"
        "EOF\n"
        "COPY <<-'END' /greeting\n"
        "\thello $NAME\n"
        "\tEND\n"
        "RUN cat /greeting\n"
    )
    run, copy, last = df.instructions[1:]
    assert run.heredocs[0].name == "EOF"
    assert run.heredocs[0].content == "echo one\necho two\n"
    assert run.heredocs[0].expand
    assert copy.heredocs[0].content == "hello $NAME\n"
    assert not copy.heredocs[0].expand
    assert last.line == 9


def test_unterminated_heredoc_names_the_line() -> None:
    with pytest.raises(DockerfileError, match="Dockerfile:2: unterminated heredoc EOF"):
        parse("FROM busybox\nRUN <<EOF\necho\n")


def test_unknown_instruction_names_the_line() -> None:
    with pytest.raises(DockerfileError, match="Dockerfile:3: unknown instruction: RUNN"):
        parse("FROM busybox\n\nRUNN echo\n")


def test_bad_escape_directive() -> None:
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM busybox\n")


def test_keyword_case_and_bom() -> None:
    df = parse("\ufeffFrOm busybox\nworkdir /app\n")
    assert [i.keyword for i in df.instructions] == ["FROM", "WORKDIR"]

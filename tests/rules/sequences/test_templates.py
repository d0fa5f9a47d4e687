"""Templates: tokens render, missing tokens are errors, hostile templates are refused by the sandbox."""

import pytest

from threadline.rules.sequences.templates.render import TemplateError, check_template, render, render_html

CONTEXT = {"contact": {"firstname": "Ada", "email": "ada@acme.io"}, "owner": {"name": "Dana"}, "company": "Acme"}


def test_tokens_render_from_the_context():
    assert render("Hi {{ contact.firstname }}, {{ owner.name }} from {{ company }}", CONTEXT) == \
        "Hi Ada, Dana from Acme"


def test_a_missing_token_is_an_error_not_an_empty_string():
    with pytest.raises(TemplateError, match="lastname"):
        render("Hi {{ contact.lastname }}", CONTEXT)
    with pytest.raises(TemplateError):
        render("Hi {{ nobody }}", CONTEXT)


def test_default_filter_covers_optional_fields():
    assert render("Hi {{ contact.lastname | default('there') }}", CONTEXT) == "Hi there"


def test_text_is_not_escaped_but_html_is():
    context = {"contact": {"firstname": "<b>Ada</b> & co"}}
    assert render("{{ contact.firstname }}", context) == "<b>Ada</b> & co"
    assert render_html("{{ contact.firstname }}", context) == "&lt;b&gt;Ada&lt;/b&gt; &amp; co"


@pytest.mark.parametrize("hostile", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ contact.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ obj._secret }}",
    "{{ obj.delete() }}",
])
def test_hostile_templates_are_rejected(hostile):
    class Obj:
        _secret = "s3cret"

        def delete(self):
            raise AssertionError("must never be called")
        delete.unsafe_callable = True

    with pytest.raises(TemplateError) as caught:
        render(hostile, {**CONTEXT, "obj": Obj()})
    assert "s3cret" not in str(caught.value)


def test_syntax_errors_raise_template_error():
    with pytest.raises(TemplateError, match="Syntax"):
        render("{% if %}", CONTEXT)


def test_check_template_reports_syntax_and_unknown_tokens():
    allowed = {"contact", "owner", "company"}
    assert check_template("Hi {{ contact.x }} {% set y = 1 %}{{ y }}", allowed) == []
    assert check_template("{{ contcat.name }}", allowed) == [
        "unknown token 'contcat' (known: company, contact, owner)"]
    assert check_template("{{ contact.name ", allowed)[0].startswith("syntax error")

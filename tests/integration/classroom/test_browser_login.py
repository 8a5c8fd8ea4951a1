"""The classroom UI asks for a login and shows the learner's models once signed in (Debian's chromium).

An anonymous visitor gets the server's 401 with a Basic challenge, which is what makes a learner's browser
show its login prompt, and no UI. A signed-in learner answers that challenge: Playwright's
``http_credentials`` do what the learner types into the prompt (credentials in the address do not work:
the UI's fetch calls refuse such URLs). The classroom's self-signed certificate is accepted, as a learner
does once.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

OWN = [f"{base}-learner-1" for base in ("taxi-fare-linear-regression", "taxi-fare-ridge-regression")]


def test_an_anonymous_visitor_gets_the_login_prompt_and_no_ui(browser, classroom):
    from playwright.sync_api import Error as PlaywrightError

    _, record, _ = classroom
    context = browser.new_context(ignore_https_errors=True)  # the classroom's generated certificate
    try:
        page = context.new_page()
        answers = []
        page.on("response", lambda answer: answers.append(answer))
        # Chromium asks for a login on a Basic challenge; a visitor without an account can only dismiss it,
        # which ends the navigation with this error (an unreachable server ends it with another one).
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            page.goto(f"{record['uri']}/#/models")
        document = [answer for answer in answers if answer.url.rstrip("/") == record["uri"]]
        assert [answer.status for answer in document] == [401]
        assert document[0].headers.get("www-authenticate", "").startswith("Basic "), document[0].headers
        assert answers == document  # nothing else was fetched: no page, no script, no API call
    finally:
        context.close()


def test_a_signed_in_learner_sees_their_models(browser, classroom):
    _, record, credentials = classroom
    context = browser.new_context(
        ignore_https_errors=True,
        http_credentials={"username": "learner-1", "password": credentials.password("learner-1")},
    )
    try:
        page = context.new_page()
        answer = page.goto(f"{record['uri']}/#/models")
        assert answer is not None and answer.status == 200
        # a class has more models than the list's first page: the learner searches for their own, as the
        # list's search box invites
        search = page.get_by_placeholder("Search registered models", exact=False).first
        search.fill("learner-1")
        search.press("Enter")
        for name in [*OWN, "taxi-trip-kmeans-learner-1", "taxi-fare-by-hand-learner-1"]:
            page.locator(f'a[href="#/models/{name}"]').first.wait_for(timeout=90_000)
        assert page.title() == "Models - MLflow"
    finally:
        context.close()

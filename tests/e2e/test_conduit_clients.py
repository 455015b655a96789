"""What real Conduit front ends send: echoed read-only fields, empty strings, trailing slashes."""

from __future__ import annotations

from tests.e2e.conftest import Api, auth


async def test_an_article_posted_to_a_trailing_slash_is_published(api: Api) -> None:
    """Angular's Conduit posts to /api/articles/."""
    token = await api.register("ann")
    r = await api.client.post(
        "/api/articles/", json={"article": {"title": "Slash", "description": "d", "body": "b"}}, headers=auth(token)
    )
    assert r.status == 201, await r.text()
    slug = (await r.json())["article"]["slug"]
    assert (await api.client.get(f"/api/articles/{slug}/")).status == 200


async def test_an_edit_that_echoes_the_read_only_fields_back_is_saved(api: Api) -> None:
    token = await api.register("ann")
    article = await api.publish(token, "Before")
    echoed = {**article, "title": "After", "body": "new body"}
    r = await api.client.put(f"/api/articles/{article['slug']}", json={"article": echoed}, headers=auth(token))
    assert r.status == 200, await r.text()
    assert (await r.json())["article"]["title"] == "After"


async def test_a_typo_of_a_writable_field_is_still_refused(api: Api) -> None:
    token = await api.register("ann")
    article = await api.publish(token)
    r = await api.client.put(f"/api/articles/{article['slug']}", json={"article": {"titel": "x"}}, headers=auth(token))
    assert r.status == 422
    assert "titel" in (await r.json())["errors"]


async def test_settings_sent_with_untouched_fields_empty_leave_them_unchanged(api: Api) -> None:
    """Angular's Conduit does not fill its settings form: every field a person did not touch comes back empty."""
    token = await api.register("ann")
    untouched = {"username": "", "email": "", "password": "", "bio": "", "image": ""}
    r = await api.client.put("/api/user", json={"user": {**untouched, "bio": "Petrolhead"}}, headers=auth(token))
    assert r.status == 200, await r.text()
    image = {**untouched, "image": "https://img/a.png"}
    r = await api.client.put("/api/user", json={"user": image}, headers=auth(token))
    assert r.status == 200, await r.text()
    user = (await r.json())["user"]
    assert (user["username"], user["email"], user["bio"], user["image"]) == (
        "ann", "ann@example.com", "Petrolhead", "https://img/a.png"
    )
    login = await api.client.post(
        "/api/users/login", json={"user": {"email": "ann@example.com", "password": "long-enough-pw"}}
    )
    assert login.status == 200  # the empty password changed nothing


async def test_a_bio_and_image_erased_in_a_filled_settings_form_are_cleared(api: Api) -> None:
    """React's Conduit fills its form with the current values: an empty bio there is one a person erased."""
    token = await api.register("ann")
    filled = {"username": "ann", "email": "ann@example.com", "bio": "Petrolhead", "image": "https://img/a.png"}
    r = await api.client.put("/api/user", json={"user": filled}, headers=auth(token))
    assert r.status == 200, await r.text()
    r = await api.client.put("/api/user", json={"user": {**filled, "bio": "", "image": ""}}, headers=auth(token))
    assert r.status == 200, await r.text()
    user = (await r.json())["user"]
    assert (user["bio"], user["image"]) == ("", "")
    profile = (await (await api.client.get("/api/profiles/ann")).json())["profile"]
    assert (profile["bio"], profile["image"]) == ("", "")


async def test_an_api_client_clears_a_bio_with_an_empty_string(api: Api) -> None:
    token = await api.register("ann")
    r = await api.client.put("/api/user", json={"user": {"bio": "Petrolhead"}}, headers=auth(token))
    assert r.status == 200, await r.text()
    r = await api.client.put("/api/user", json={"user": {"bio": ""}}, headers=auth(token))
    assert r.status == 200, await r.text()
    assert (await r.json())["user"]["bio"] == ""


async def test_image_is_a_string_in_users_and_profiles(api: Api) -> None:
    token = await api.register("ann")
    user = (await (await api.client.get("/api/user", headers=auth(token))).json())["user"]
    profile = (await (await api.client.get("/api/profiles/ann")).json())["profile"]
    assert user["image"] == "" and profile["image"] == ""


async def test_an_edit_with_a_tag_list_replaces_the_tags(api: Api) -> None:
    token = await api.register("ann")
    article = await api.publish(token, tags=["old", "kept"])
    r = await api.client.put(
        f"/api/articles/{article['slug']}", json={"article": {"tagList": ["kept", "new"]}}, headers=auth(token)
    )
    assert r.status == 200, await r.text()
    assert sorted((await r.json())["article"]["tagList"]) == ["kept", "new"]
    tagged = await (await api.client.get("/api/articles", params={"tag": "old"})).json()
    assert tagged["articlesCount"] == 0

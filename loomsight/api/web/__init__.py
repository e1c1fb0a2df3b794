"""The browser pages: QA review, machines, machine detail, roll report, models.

Server-rendered HTML (Jinja2) with small vanilla scripts that call the API on the same origin,
authorised by the login cookie. `web.install.install(app)` adds the pages, the static files and
the redirect to the login page.
"""

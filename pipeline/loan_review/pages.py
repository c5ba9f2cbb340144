"""The reviewer's page: Jinja templates (autoescaped), plain HTML forms, inline style, no script."""

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %} · Loan review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0 1rem 2rem; color: #111; }
a { color: #0645ad; } :focus-visible { outline: 3px solid #e08e00; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: #fff; }
header { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ccc; padding: .5rem 0; }
header form { margin-left: auto; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.error { background: #fde8e8; border: 1px solid #c00; padding: .5rem; } .on { color: #b00; font-weight: bold; }
fieldset { margin: .75rem 0; } textarea { width: 100%; } pre { white-space: pre-wrap; background: #f6f6f6;
padding: .5rem; }
button { font: inherit; padding: .3rem .9rem; }
</style></head><body>
<a class="skip" href="#main">Skip to content</a>
<header><strong>Loan review</strong>{% if reviewer %}<a href="/">Queue</a>
<span>Stop switch: <span class="{{ 'on' if switch.on else '' }}">{{ 'ON: every decision goes to a person' if
switch.on else 'off' }}</span></span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<span>{{ reviewer }}</span> <button type="submit">Sign out</button></form>{% endif %}</header>
<main id="main">{% block main %}{% endblock %}</main></body></html>"""

LOGIN = """{% extends layout %}{% block title %}Sign in{% endblock %}{% block main %}
<h1>Reviewer sign-in required (401)</h1>
<p role="alert">{{ message }}.</p>
<form method="post" action="/login">
<label for="token">Reviewer token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form>{% endblock %}"""

STATUS = """{% extends layout %}{% block title %}{{ message }}{% endblock %}{% block main %}
<h1>Refused</h1><p class="error" role="alert">{{ message }}</p><p><a href="/">Back to the queue</a></p>{%
endblock %}"""

QUEUE = """{% extends layout %}{% block title %}Queue{% endblock %}{% block main %}
<h1>Cases waiting: {{ depth }}</h1>
{% if cases %}<table><caption>Oldest first{{ ' (the %d oldest)' % cases|length if depth > cases|length }}</caption>
<thead><tr><th scope="col">Case</th><th scope="col">Why</th><th scope="col">Model</th><th scope="col">P(approved)</th>
<th scope="col">Gender</th><th scope="col">Waiting</th></tr></thead><tbody>
{% for c in cases %}<tr><td><a href="/cases/{{ c.id }}">Case {{ c.id }}</a></td><td>{{ c.causes|join(', ') }}</td>
<td>{{ c.decision }}</td><td>{{ '%.2f'|format(c.probability) }}</td><td>{{ c.gender }}</td>
<td>{{ ((now - c.opened) / 60)|round(1) }} min</td></tr>{% endfor %}</tbody></table>
{% else %}<p>No case is waiting.</p>{% endif %}
<h2>Stop switch</h2>
<form method="post" action="/stop"><input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="on" value="{{ '0' if switch.on else '1' }}">
<p>{% if switch.on %}On since {{ switch.since }} ({{ switch.by }}: {{ switch.reason }}).{% else %}Off: the
model decides alone
outside the cases above.{% endif %}</p>
<label for="switch-reason">Reason</label> <input id="switch-reason" name="reason" required size="40">
<button type="submit">{{ 'Turn off: the model decides again' if switch.on else 'Turn on: every decision to a
person' }}</button>
</form>{% endblock %}"""

CASE = """{% extends layout %}{% block title %}Case {{ case.id }}{% endblock %}{% block main %}
<h1>Case {{ case.id }} ({{ case.state }})</h1>
{% if error %}<p class="error" role="alert" id="error">{{ error }}</p>{% endif %}
<dl><dt>Application reference</dt><dd>{{ case.request_id }}</dd>
<dt>Why here</dt><dd>{{ case.causes|join(', ') }}</dd>
<dt>Model's decision</dt><dd><strong>{{ case.decision }}</strong>, P(approved) {{ '%.3f'|format(case.probability) }}
(decided {{ case.decided_at }}, artefacts {{ (case.artefacts or '')[:12] }})</dd>
{% if case.view %}<dt>The applicant's view</dt><dd>{{ case.view }}</dd>{% endif %}</dl>
<h2>Applicant</h2><table><tbody>{% for a in case.applicant %}<tr><th scope="row">{{ a.feature }}</th><td>{{
a.shown }}</td></tr>{% endfor %}</tbody></table>
<h2>Principal reasons</h2>
{% if case.reasons %}<ol>{% for r in case.reasons %}<li>{{ r.code }} {{ r.sentence }} (applicant: {{ r.applicant }};
near the threshold: {{ r.reference }})</li>{% endfor %}</ol>{% else %}<p>None recorded for this
decision.</p>{% endif %}
{% if case.flags %}<p><strong>Prohibited bases among the principal reasons (never cited):</strong>
{% for f in case.flags %}{{ f.feature }}{{ ', ' if not loop.last }}{% endfor %}</p>{% endif %}
<h2>Anchor</h2>{% if case.anchor %}<p>{{ case.anchor|join(' AND ') }}</p>{% else %}<p>No explanation was
asked for this decision.</p>{% endif %}
{% if case.state == 'open' %}
<h2>Decide</h2>
<form method="post" action="/cases/{{ case.id }}"><input type="hidden" name="csrf" value="{{ csrf }}">
<fieldset><legend>Decision</legend>
<label><input type="radio" name="action" value="confirm" required> Confirm: {{ case.decision }}</label><br>
<label><input type="radio" name="action" value="override"> Override: {{ 'rejected' if case.decision ==
'approved' else 'approved' }}</label>
</fieldset>
<label for="reason">Written reason (required)</label><br><textarea id="reason" name="reason" rows="4"
required></textarea>
<fieldset><legend>Reason codes cited when the final decision is a rejection</legend>
{% for code, (feature, sentence) in citable.items() %}<label><input type="checkbox" name="codes" value="{{ code }}">
{{ code }}: {{ sentence }}</label><br>{% endfor %}</fieldset>
<button type="submit">Record the decision</button></form>
{% else %}
<h2>Decided</h2><p>{{ case.reviewer }} chose to {{ case.action }}: final decision <strong id="final">{{
case.final }}</strong>.
Reason: {{ case.reason }}</p>
<h3>What the applicant is told</h3><pre id="notice">{{ notice }}</pre>
{% endif %}{% endblock %}"""

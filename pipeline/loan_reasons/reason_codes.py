"""What each input of the loan data may be: scored and cited, used only to monitor, or not used at all.

Regulation B (12 CFR 1002.6(b)(1)) forbids *using* a prohibited basis in a system that evaluates
creditworthiness: such an input is not scored at all (hiding it from the notice would not do, comment
9(b)(2)-4 forbids leaving a principal reason out). Teaching material as of 2026-12, not legal advice.
"""

# The prohibited bases in this data (1002.2(z)) and what each one is.
PROHIBITED = {
    "gender": "sex",
    "ethnicity": "race",
    "marital-status": "marital status",
    "native-country": "national origin",
    # Husband, Wife, Own-child...: it encodes sex and marital status.
    "relationship": "sex and marital status (proxy)",
}

# 1002.2(o): an elderly applicant is 62 or older. 1002.6(b)(2)(ii): an empirically derived system may score
# age only if an elderly applicant's age is never given a value less favourable than the most favoured age
# below 62. The served model scores a 62+ applicant at their most favoured age of 18..61 (``elderly_floor``).
ELDERLY_AGE = 62
# Below the age of majority (18 in most US states) an applicant cannot be bound by a credit contract: the
# services refuse the application (1002.6(b)(2)(i) lets a creditor consider capacity to contract).
CAPACITY_AGE = 18

# input -> (role, why). "scored": the served model scores it and a notice may cite it; "monitoring": received
# only to count decisions per group, never scored; "not used": neither scored nor cited.
INPUTS = {
    "age": ("scored", "1002.6(b)(2)(ii): an empirically derived system may score age; a 62+ applicant is "
                      "scored at the most favoured age below 62, never lower"),
    "workclass": ("scored", "type of employer: the stability of the income that repays the credit"),
    "education": ("scored", "not a prohibited basis; related to income (a lender should check it as a proxy)"),
    "occupation": ("scored", "the kind of work that earns the income that repays the credit"),
    "capital-gain": ("scored", "investment income: part of what repays the credit"),
    "capital-loss": ("not used", "in this data losses go with high income: scored, low losses would count "
                                 "against an applicant, a reason no lender could defend"),
    "hours-per-week": ("not used", "scoring hours counts part-time work against the applicant: close to "
                                   "discounting part-time income, which 1002.6(b)(5) forbids"),
    "gender": ("monitoring", "sex (1002.6(b)(1)); received only to count decisions per gender, never scored"),
    "ethnicity": ("not used", "race (1002.6(b)(1))"),
    "marital-status": ("not used", "marital status (1002.6(b)(1))"),
    "native-country": ("not used", "national origin (1002.6(b)(1))"),
    "relationship": ("not used", "Husband, Wife, ...: encodes sex and marital status (1002.6(b)(1))"),
}
SCORED = [name for name, (role, _) in INPUTS.items() if role == "scored"]
MONITORING = [name for name, (role, _) in INPUTS.items() if role == "monitoring"]

# input -> (code, factor): the factor as a notice names it, Form C-1 style, followed by the applicant's value.
CODES = {
    "age": ("R01", "Age"),
    "workclass": ("R02", "Type of employer"),
    "education": ("R03", "Education"),
    "occupation": ("R04", "Occupation"),
    "capital-gain": ("R05", "Investment income (capital gains)"),
    "capital-loss": ("R06", "Capital losses"),
    "hours-per-week": ("R07", "Hours worked per week"),
}

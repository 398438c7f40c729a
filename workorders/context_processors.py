from workorders import permissions


def company(request):
    """The signed-in user's company and role, for the page chrome."""
    membership = permissions.membership_of(getattr(request, "user", None))
    if membership is None:
        return {"company": None, "role": None}
    return {"company": membership.company, "role": membership.role}

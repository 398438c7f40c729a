from workorders import integrations, permissions


def company(request):
    """The signed-in user's company, role and what the top bar may offer them."""
    user = getattr(request, "user", None)
    membership = permissions.membership_of(user)
    if membership is None:
        return {"company": None, "role": None}
    return {
        "company": membership.company,
        "role": membership.role,
        "nav_can_create": permissions.user_can(user, permissions.CREATE),
        "nav_can_admin": permissions.user_can(user, permissions.ADMIN_SITE),
        "nav_can_integration": permissions.user_can(user, permissions.MANAGE_INTEGRATION),
        "nav_can_retry": permissions.user_can(user, permissions.RETRY_SYNCS),
        **integrations.nav_context(user, membership.company),
    }

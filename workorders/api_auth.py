"""Sign-in for the API: issue and revoke tokens; who may read the API schema and docs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.auth import TokenAuthentication
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from workorders import tokens


class Credentials(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many failed sign-ins: this account is locked for a while."
    default_code = "locked_out"


TOKEN_ANSWER = inline_serializer(
    "ApiToken", {"token": serializers.CharField(), "expiry": serializers.DateTimeField()}
)


class ObtainTokenView(APIView):
    """`{"username", "password"}` to `{"token", "expiry"}`; send `Authorization: Token <token>`."""

    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = Credentials

    @extend_schema(request=Credentials, responses={200: TOKEN_ANSWER})
    def post(self, request):
        credentials = Credentials(data=request.data)
        credentials.is_valid(raise_exception=True)
        # The Django request, so django-axes records failures and its middleware
        # answers a locked-out username+IP with 429, as on the sign-in page.
        django_request = request._request
        user = authenticate(django_request, **credentials.validated_data)
        if getattr(django_request, "axes_locked_out", False):
            raise LockedOut()
        if user is None or not user.is_active:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        instance, token = tokens.token_issue(user)
        user_logged_in.send(sender=user.__class__, request=django_request, user=user)
        return Response({"token": token, "expiry": instance.expiry})


class RevokeTokenView(APIView):
    """Revoke the token this request was made with (204)."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def revoke(self, request) -> None:
        tokens.token_revoke(request.auth)

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        self.revoke(request)
        user_logged_out.send(sender=request.user.__class__, request=request._request,
                             user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevokeAllTokensView(RevokeTokenView):
    """Revoke every token of the signed-in user (204)."""

    def revoke(self, request) -> None:
        tokens.token_revoke_all(request.user)


class SchemaAccess(BasePermission):
    """The API schema is public in demo mode only; otherwise it needs a signed-in user."""

    def has_permission(self, request, view) -> bool:
        return bool(settings.ATTIK_DEMO_MODE or request.user.is_authenticated)


def docs_view(view):
    """The docs page: outside demo mode, people who are not signed in go to sign in."""

    def docs(request, *args, **kwargs):
        if not settings.ATTIK_DEMO_MODE and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return docs

"""The office domain: companies, people, the catalogue and workorders."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Company(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    last_workorder_number = models.PositiveIntegerField(default=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OFFICE_STAFF = "office_staff", "Office staff"
    SCHEDULER = "scheduler", "Scheduler"


class Membership(models.Model):
    """A user's place in exactly one company, with a role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OFFICE_STAFF)

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.company})"


class CompanyOwned(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Employee(CompanyOwned):
    """An inspector; linked to a Spectora inspector when ``spectora_inspector_id`` is set."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    active = models.BooleanField(default=True)
    spectora_inspector_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "spectora_inspector_id"],
                condition=Q(spectora_inspector_id__isnull=False),
                name="employee_unique_spectora_inspector",
                violation_error_message=(
                    "Another employee is already linked to this Spectora inspector."
                ),
            )
        ]

    def __str__(self) -> str:
        return self.name


class ReportType(CompanyOwned):
    """A kind of report an inspection produces; maps to a Spectora report template."""

    name = models.CharField(max_length=200)
    spectora_template_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ServiceKind(models.TextChoices):
    PRIMARY = "primary", "Primary"
    ADD_ON = "add_on", "Add-on"


class Service(CompanyOwned):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=ServiceKind.choices, default=ServiceKind.PRIMARY)
    price_cents = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    spectora_service_id = models.CharField(max_length=64, null=True, blank=True)
    report_types = models.ManyToManyField(ReportType, blank=True, related_name="services")

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class WorkorderStatus(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"


class Origin(models.TextChoices):
    ATTIK = "attik", "Attik"
    SPECTORA = "spectora", "Spectora"


class Workorder(CompanyOwned):
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=WorkorderStatus.choices, default=WorkorderStatus.UNCONFIRMED
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.ATTIK)
    scheduled_at = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField(default=120)
    address = models.CharField(max_length=300)
    client_name = models.CharField(max_length=200)
    client_email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Set from the create form so a double submit makes one workorder.
    form_token = models.CharField(max_length=64, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="workorder_unique_number"),
            models.UniqueConstraint(
                fields=["company", "form_token"],
                condition=Q(form_token__isnull=False),
                name="workorder_unique_form_token",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-scheduled_at"], name="workorder_company_sched"),
            models.Index(fields=["company", "status"], name="workorder_company_status"),
        ]

    def __str__(self) -> str:
        return f"WO-{self.number}"

    @property
    def is_cancelled(self) -> bool:
        return self.status == WorkorderStatus.CANCELLED

    @property
    def is_spectora_origin(self) -> bool:
        return self.origin == Origin.SPECTORA


class IdempotencyKey(CompanyOwned):
    """An API create's ``Idempotency-Key``: the body it came with (a SHA-256) and the
    workorder it made. Kept 24 hours (``services.IDEMPOTENCY_KEY_TTL``)."""

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    workorder = models.ForeignKey(Workorder, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "key"], name="idempotency_key_unique"),
        ]
        indexes = [models.Index(fields=["company", "created_at"], name="idempotency_key_age")]

    def __str__(self) -> str:
        return self.key


class Assignment(models.Model):
    workorder = models.ForeignKey(Workorder, on_delete=models.CASCADE, related_name="assignments")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="assignments")
    primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workorder", "employee"], name="assignment_unique"),
            models.UniqueConstraint(
                fields=["workorder"], condition=Q(primary=True), name="assignment_one_primary"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee}{' (primary)' if self.primary else ''}"


class LineItem(models.Model):
    workorder = models.ForeignKey(Workorder, on_delete=models.CASCADE, related_name="line_items")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="line_items")
    price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.service} x{self.quantity}"

    @property
    def total_cents(self) -> int:
        return self.price_cents * self.quantity


class ActivityEvent(CompanyOwned):
    """What happened to a workorder, by whom (null actor: the system)."""

    workorder = models.ForeignKey(
        Workorder, null=True, blank=True, on_delete=models.CASCADE, related_name="activity"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.message

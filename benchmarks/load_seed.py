"""Seeding for the load benchmark: workorders in bulk, office staff who can sign in."""

from __future__ import annotations

import random
from datetime import timedelta

PASSWORD = "load-bench-password"
BATCH = 5000
PAGE_SIZE = 25
FIRST_NAMES = [
    "Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    "Keiko", "Liam", "Maria", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Boris", "Carmen", "Diego",
]
LAST_NAMES = [
    "Anderson", "Baptiste", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallagher", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quintero", "Rossi", "Schmidt", "Tanaka", "Umarov", "Varga", "Whitfield", "Xu", "Yilmaz",
    "Zimmermann", "Abbott", "Brennan", "Carvalho", "Delgado", "Esposito", "Fontaine",
    "Greenberg", "Holloway", "Ishikawa", "Jovanovic", "Kaminski", "Lombardi", "Mbeki", "Novak",
]
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Pine Rd", "Lakeview Blvd",
           "Hillcrest Way", "River Rd", "Sunset Ave", "Park Pl", "Church St"]
CITIES = ["Springfield", "Riverton", "Fairview", "Greenville", "Madison", "Georgetown"]


def client_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def seed_workorders(company, count: int, employees: list, primaries: list, add_ons: list,
                    rng: random.Random, *, cancelled_share: float = 0.1) -> list[int]:
    """Bulk-create ``count`` workorders with 1-2 assignees and 1-3 line items each."""
    from django.utils import timezone

    from workorders.models import Assignment, LineItem, Workorder, WorkorderStatus

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    number = company.last_workorder_number
    ids: list[int] = []
    for start in range(0, count, BATCH):
        batch = []
        for _ in range(min(BATCH, count - start)):
            number += 1
            roll = rng.random()
            status = (WorkorderStatus.CANCELLED if roll < cancelled_share else
                      WorkorderStatus.UNCONFIRMED if roll < cancelled_share + 0.3 else
                      WorkorderStatus.CONFIRMED)
            name = client_name(rng)
            batch.append(Workorder(
                company=company, number=number, status=status,
                scheduled_at=now + timedelta(minutes=30 * rng.randint(-17520, 17520)),
                duration_minutes=rng.choice([90, 120, 180]),
                address=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
                client_name=name,
                client_email=f"{name.lower().replace(' ', '.')}@example.com",
                cancel_reason="Client rescheduled" if status == WorkorderStatus.CANCELLED else "",
            ))
        created = Workorder.objects.bulk_create(batch, batch_size=BATCH)
        assignments, items = [], []
        for wo in created:
            crew = rng.sample(employees, 2 if rng.random() < 0.3 else 1)
            assignments += [Assignment(workorder_id=wo.pk, employee=e, primary=n == 0)
                            for n, e in enumerate(crew)]
            services = [rng.choice(primaries), *rng.sample(add_ons, rng.randint(0, 2))]
            items += [LineItem(workorder_id=wo.pk, service=s, price_cents=s.price_cents)
                      for s in services]
        Assignment.objects.bulk_create(assignments, batch_size=BATCH)
        LineItem.objects.bulk_create(items, batch_size=BATCH)
        ids += [wo.pk for wo in created]
    company.last_workorder_number = number
    company.save(update_fields=["last_workorder_number"])
    return ids


def staff_users(company, count: int, prefix: str) -> list:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from workorders.models import Membership, Role

    user_model = get_user_model()
    hashed = make_password(PASSWORD)  # hashed once: signing in still runs the real hasher
    users = user_model.objects.bulk_create([
        user_model(username=f"{prefix}-{n}", email=f"{prefix}-{n}@example.com", password=hashed)
        for n in range(count)
    ])
    users = list(user_model.objects.filter(username__startswith=f"{prefix}-").order_by("id"))
    Membership.objects.bulk_create([
        Membership(user=user, company=company, role=Role.OFFICE_STAFF) for user in users
    ])
    return users

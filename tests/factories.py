"""factory_boy factories for the core records and users with roles."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import Group, User

from opsgov.models import Lifecycle, Service, ServiceTier, Team


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")
    email = factory.LazyAttribute(lambda o: f"{o.slug}@example.com")


class ServiceFactory(factory.django.DjangoModelFactory[Service]):
    class Meta:
        model = Service
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"service-{n}")
    name = factory.Sequence(lambda n: f"Service {n}")
    tier = ServiceTier.TIER_2
    owner_team = factory.SubFactory(TeamFactory)
    lifecycle = Lifecycle.ACTIVE


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.groups.set(Group.objects.filter(name__in=extracted))

"""The knowledge base: articles in sanitised Markdown, by category, public or internal."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from opsgov.models import TimeStampedModel

from .tickets import Ticket


class ArticleCategory(TimeStampedModel):
    """A shelf of articles; training material is a category with an audience."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    audience = models.CharField(max_length=120, blank=True, help_text="Training material: who it is for.")
    is_training = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "article categories"

    def __str__(self) -> str:
        return self.name


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"


class Article(TimeStampedModel):
    """A knowledge-base article, reviewed by its owner by its review due date."""

    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown; rendered sanitised.")
    category = models.ForeignKey(ArticleCategory, on_delete=models.PROTECT, related_name="articles")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    review_due_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_no = models.PositiveIntegerField(default=0)
    tickets = models.ManyToManyField(Ticket, blank=True, related_name="articles")

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

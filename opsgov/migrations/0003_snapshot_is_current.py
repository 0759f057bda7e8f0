"""Mark the newest snapshot of each (metric, scope, window) as current, then enforce one current row per key."""

from django.db import migrations, models
from django.db.models import Max


def mark_newest_current(apps, schema_editor):
    MetricSnapshot = apps.get_model("opsgov", "MetricSnapshot")
    newest = (
        MetricSnapshot.objects.values("metric", "scope", "window")
        .annotate(last=Max("computed_at"))
        .values_list("metric", "scope", "window", "last")
    )
    for metric, scope, window, last in newest.iterator():
        row = (
            MetricSnapshot.objects.filter(metric=metric, scope=scope, window=window, computed_at=last)
            .order_by("-id")
            .first()
        )
        MetricSnapshot.objects.filter(pk=row.pk).update(is_current=True)


class Migration(migrations.Migration):
    dependencies = [
        ("opsgov", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricsnapshot",
            name="is_current",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_newest_current, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="metricsnapshot",
            name="is_current",
            field=models.BooleanField(
                default=True, help_text="The newest value of its (metric, scope, window); older rows are history."
            ),
        ),
        migrations.AddConstraint(
            model_name="metricsnapshot",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_current", True)),
                fields=("metric", "scope", "window"),
                name="snapshot_one_current_per_key",
            ),
        ),
    ]

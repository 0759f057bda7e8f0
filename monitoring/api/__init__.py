"""The monitoring API's routes (urls.py); its serializers and viewsets are in the sub-packages."""

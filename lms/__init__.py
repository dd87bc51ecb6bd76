"""干部网络学院: the Flask application package.

Importing ``lms`` or any submodule never builds the app; ``lms.app.create_app`` does.
"""

"""Code masters (コードマスタ): regions, school types, subjects, licences, job types."""

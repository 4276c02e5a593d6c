"""Account activation requests under real concurrency: separate cursors that really commit.

The requests these tests make are committed (the test database is dropped after the run); each
test uses an address of its own and deletes its requests at the end.
"""

import logging
import threading
import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL

from odoo.addons.payment_plan.models.payment_plan_activation import MAX_REQUESTS_PER_IP
from odoo.addons.payment_plan.tests.common import registry_lock_released

_logger = logging.getLogger(__name__)


@tagged('post_install', '-at_install')
class TestActivationConcurrency(TransactionCase):
    def test_concurrent_requests_cannot_all_pass_the_rate_limit(self):
        """More requests than the limit, from one address, all at once, each in its own
        transaction: exactly the limit passes, and every request is counted."""
        ip_address = f'test-{uuid.uuid4().hex}'
        count = MAX_REQUESTS_PER_IP + 3
        barrier = threading.Barrier(count)
        answers, errors = [], []

        def ask(n):
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    barrier.wait(timeout=30)
                    answers.append(
                        env['payment.plan.activation']._request_activation(
                            f'concurrent-{n}@example.com', ip_address
                        )
                    )
            except Exception as error:
                _logger.exception("A concurrent activation request failed.")
                errors.append(error)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(count)]
        with registry_lock_released():
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        self.assertFalse(
            [thread for thread in threads if thread.is_alive()], "a request never ended"
        )
        try:
            self.assertFalse(errors)
            self.assertEqual(answers.count(True), MAX_REQUESTS_PER_IP, answers)
            self.assertEqual(answers.count(False), count - MAX_REQUESTS_PER_IP)
            with self.registry.cursor() as cr:
                cr.execute(
                    SQL(
                        "SELECT count(*) FROM payment_plan_activation WHERE ip_address = %s",
                        ip_address,
                    )
                )
                self.assertEqual(cr.fetchone()[0], count, "every request is counted")
        finally:
            with self.registry.cursor() as cr:
                cr.execute(
                    SQL("DELETE FROM payment_plan_activation WHERE ip_address = %s", ip_address)
                )

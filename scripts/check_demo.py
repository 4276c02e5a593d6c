"""The demo as a person uses it: scripts/serve running, an order paid by link in a real browser.

Run by scripts/check_demo (which sets up the environment first). Starts a local SMTP server that
keeps what it receives, starts scripts/serve with its mail sent there, waits for /web/login,
creates an order sold in 3 installments (as the salesperson does, through Odoo's web API), then
has headless Chromium open the order's payment link as the customer and pay its first
installment on the Demo provider (the tour `payment_plan_demo_pay_link_tour`), from the link of
the mail the customer received (its subject names the company and the order, and it has one
payment button). Checks, on the running server: the order is confirmed, locked and paid, its
plan runs on the saved card, the customer received the mail of the order with its PDF, no mail
has a technical subject, and the server logged no traceback. Nothing of Odoo is patched.
"""

import argparse
import base64
import email
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from email import policy
from urllib.parse import urlsplit

import websocket

TOUR = 'payment_plan_demo_pay_link_tour'
CUSTOMER_EMAIL = 'demo.check.customer@example.com'


def say(message):
    sys.stdout.write(f"   {message}\n")
    sys.stdout.flush()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class SmtpSink(socketserver.ThreadingTCPServer):
    """A minimal SMTP server that accepts every message and keeps it."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), SmtpHandler)
        self.messages = []


class SmtpHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b'220 check_demo ESMTP\r\n')
        receiving, lines = False, []
        for line in self.rfile:
            if receiving:
                if line.rstrip(b'\r\n') == b'.':
                    self.server.messages.append(
                        email.message_from_bytes(b''.join(lines), policy=policy.default)
                    )
                    receiving, lines = False, []
                    self.wfile.write(b'250 kept\r\n')
                else:
                    lines.append(line[1:] if line.startswith(b'..') else line)
                continue
            verb = line.strip().split(b' ', 1)[0].upper()
            if verb == b'DATA':
                receiving = True
                self.wfile.write(b'354 go ahead\r\n')
            elif verb == b'QUIT':
                self.wfile.write(b'221 bye\r\n')
                return
            else:
                self.wfile.write(b'250 ok\r\n')


class Odoo:
    """Odoo's web API (JSON-RPC, as its web client calls it) with a session of its own."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def post(self, path, params):
        body = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params})
        request = urllib.request.Request(
            self.base_url + path, body.encode(), {'Content-Type': 'application/json'}
        )
        with self.opener.open(request, timeout=120) as answer:
            reply = json.load(answer)
        if reply.get('error'):
            raise RuntimeError(f"{path}: {reply['error']['data'].get('message')}")
        return reply['result']

    def login(self, database, login, password):
        self.post(
            '/web/session/authenticate', {'db': database, 'login': login, 'password': password}
        )

    def call(self, model, method, *args, **kwargs):
        return self.post(
            '/web/dataset/call_kw',
            {'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs},
        )


class Browser:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self):
        binary = shutil.which('chromium') or shutil.which('chromium-browser')
        if not binary:
            raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix='check_demo_chromium_')
        port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                '--headless=new',
                '--no-sandbox',
                '--disable-gpu',
                '--no-first-run',
                '--disable-dev-shm-usage',
                '--window-size=1366,900',
                f'--remote-debugging-port={port}',
                f'--user-data-dir={self.profile}',
                'about:blank',
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f'http://127.0.0.1:{port}/json/list', timeout=5
                ) as answer:
                    pages = [target for target in json.load(answer) if target['type'] == 'page']
                if pages:
                    break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError("Chromium did not start") from error
                pages = []
            if not pages and time.monotonic() > deadline:
                raise RuntimeError("Chromium has no page")
            time.sleep(0.2)
        self.socket = websocket.create_connection(
            pages[0]['webSocketDebuggerUrl'], timeout=10, suppress_origin=True
        )
        self.last_id = 0
        self.events = []
        self.call('Runtime.enable')
        self.call('Page.enable')

    def _receive(self, timeout):
        self.socket.settimeout(timeout)
        try:
            return json.loads(self.socket.recv())
        except websocket.WebSocketTimeoutException:
            return None

    def call(self, method, **params):
        self.last_id += 1
        self.socket.send(json.dumps({'id': self.last_id, 'method': method, 'params': params}))
        while True:
            message = self._receive(60)
            if message is None:
                raise RuntimeError(f"Chromium did not answer {method}")
            if message.get('id') == self.last_id:
                if 'error' in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get('result', {})
            self.events.append(message)

    def evaluate(self, expression):
        result = self.call(
            'Runtime.evaluate', expression=expression, awaitPromise=True, returnByValue=True
        )
        return result.get('result', {}).get('value')

    def run_tour(self, url, tour, timeout=180):
        """Open `url`, start the tour once its page is ready, and wait for its verdict."""
        self.call('Page.navigate', url=url)
        deadline = time.monotonic() + 60
        while not self.evaluate(
            f"!!(window.odoo && odoo.isTourReady && odoo.isTourReady({tour!r}))"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the tour {tour} is not available on {url}")
            time.sleep(0.5)
        self.evaluate(f"odoo.startTour({tour!r}, {{stepDelay: 0}})")
        deadline = time.monotonic() + timeout
        console = []
        while time.monotonic() < deadline:
            message = self.events.pop(0) if self.events else self._receive(1)
            if not message:
                continue
            if message.get('method') == 'Runtime.consoleAPICalled':
                params = message['params']
                text = ' '.join(
                    str(arg.get('value', arg.get('description', ''))) for arg in params['args']
                )
                console.append(f"{params['type']}: {text}")
                if text in ('test successful', 'tour succeeded'):
                    return
                if params['type'] == 'error':
                    raise RuntimeError("the tour failed:\n" + '\n'.join(console[-15:]))
            elif message.get('method') == 'Runtime.exceptionThrown':
                details = message['params']['exceptionDetails']
                raise RuntimeError(
                    f"the page threw: {details.get('exception', {}).get('description', details)}"
                )
        raise RuntimeError(f"the tour did not end in {timeout} s:\n" + '\n'.join(console[-15:]))

    def screenshot(self, path):
        data = self.call('Page.captureScreenshot', format='png')['data']
        with open(path, 'wb') as image:
            image.write(base64.b64decode(data))

    def close(self):
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)
            shutil.rmtree(self.profile, ignore_errors=True)


def start_server(args, smtp_port, gevent_port, log):
    """Start scripts/serve as a person does: with workers (hence the websocket process) and
    queue_job's runner, its mail sent to the sink."""
    env = dict(os.environ, PAYMENT_PLAN_HTTP_PORT=str(args.port), PAYMENT_PLAN_CHANNEL_CAPACITY='1')
    return subprocess.Popen(
        [
            args.serve,
            '--smtp=127.0.0.1',
            f'--smtp-port={smtp_port}',
            f'--gevent-port={gevent_port}',
            '--log-level=warn',
            '--max-cron-threads=1',
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def check_websocket(gevent_port, timeout=60):
    """Return why the websocket process does not answer its health check, or None."""
    deadline = time.monotonic() + timeout
    error = None
    while time.monotonic() < deadline:
        try:
            url = f'http://127.0.0.1:{gevent_port}/websocket/health'
            with urllib.request.urlopen(url, timeout=10) as answer:
                if answer.status == 200:
                    return None
                error = f"status {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            error = str(exc)
        time.sleep(2)
    return f"the websocket process does not answer /websocket/health: {error}"


def tracebacks(log_path):
    """Return the tracebacks the server logged (the first lines of each)."""
    with open(log_path, encoding='utf-8', errors='replace') as server_log:
        lines = server_log.read().splitlines()
    return [
        '\n'.join(lines[index : index + 8])
        for index, line in enumerate(lines)
        if line.startswith('Traceback (most recent call last)')
    ]


def wait_for_login_page(server, base_url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"scripts/serve stopped (exit {server.returncode})")
        try:
            with urllib.request.urlopen(base_url + '/web/login', timeout=10) as answer:
                ready = answer.status == 200
        except OSError:  # not listening yet, or an error page (HTTPError) while it starts
            ready = False
        if ready:
            return
        time.sleep(2)
    raise RuntimeError(f"/web/login did not answer in {timeout} s")


def sell_in_installments(odoo):
    """As the salesperson: a quotation sold in 3 installments, confirmed; returns its id and
    the payment link sent to the customer."""
    partner = odoo.call(
        'res.partner', 'create', {'name': "Demo Check Customer", 'email': CUSTOMER_EMAIL}
    )
    [product] = odoo.call(
        'product.product',
        'search',
        # A plan pays the order's invoice made at the first payment: invoiced on ordered quantities.
        [('sale_ok', '=', True), ('list_price', '>', 0), ('invoice_policy', '=', 'order')],
        limit=1,
    )
    order = odoo.call(
        'sale.order',
        'create',
        {
            'partner_id': partner,
            'order_line': [
                (0, 0, {'product_id': product, 'product_uom_qty': 1, 'price_unit': 300})
            ],
            'payment_plan_kind': 'installments',
            'payment_plan_installment_count': 3,
        },
    )
    odoo.call('sale.order', 'action_payment_plan_request', [order])
    [values] = odoo.call('sale.order', 'read', [order], ['state', 'payment_plan_link'])
    if not values['payment_plan_link']:
        raise RuntimeError(f"the order has no payment link (state {values['state']})")
    return order, values['payment_plan_link']


def check_order_paid(odoo, order):
    [values] = odoo.call(
        'sale.order',
        'read',
        [order],
        ['name', 'state', 'locked', 'payment_plan_status', 'payment_plan_id', 'invoice_ids'],
    )
    problems = []
    if (values['state'], values['locked'], values['payment_plan_status']) != ('sale', True, 'paid'):
        problems.append(
            f"order {values['name']}: state {values['state']}, locked {values['locked']},"
            f" payment {values['payment_plan_status']} (expected sale, locked, paid)"
        )
    if values['payment_plan_id']:
        [plan] = odoo.call(
            'payment.plan', 'read', [values['payment_plan_id'][0]], ['state', 'token_id']
        )
        if plan['state'] != 'active' or not plan['token_id']:
            problems.append(f"plan: state {plan['state']}, card {plan['token_id']}")
    else:
        problems.append("the order has no payment plan")
    return values['name'], problems


def wait_for_mail(sink, predicate, timeout=60):
    """Return the first message of the sink that `predicate` accepts, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = next((message for message in list(sink.messages) if predicate(message)), None)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def html_of(message):
    body = message.get_body(preferencelist=('html',))
    return body.get_content() if body else ''


def payment_link_of_mail(sink, odoo, order):
    """The first payment's mail of `order`: its subject, and the one payment link it holds (the
    order's own). Returns the link, or raises what is wrong."""
    [values] = odoo.call('sale.order', 'read', [order], ['name', 'company_id'])
    name, company = values['name'], values['company_id'][1]
    mail = wait_for_mail(
        sink,
        lambda m: CUSTOMER_EMAIL in m.get('To', '') and 'first installment' in m.get('Subject', ''),
    )
    if not mail:
        subjects = [f"{m.get('To')}: {m.get('Subject')}" for m in sink.messages]
        raise RuntimeError(f"no first-payment mail of {name} reached the customer: {subjects}")
    subject = mail['Subject']
    if company not in subject or name not in subject:
        raise RuntimeError(f"the first-payment mail's subject names neither {company} nor {name}")
    links = set(re.findall(r'href="([^"]*/my/orders/[^"]*payment_amount=[^"]*)"', html_of(mail)))
    if len(links) != 1:
        raise RuntimeError(f"the first-payment mail holds {len(links)} payment links: {links}")
    say(f'mail received by the customer: "{subject}", with one payment link')
    return links.pop().replace('&amp;', '&')


def technical_subjects(sink):
    """Subjects that show a record's technical name (model,id) instead of a human one."""
    return [
        m.get('Subject')
        for m in sink.messages
        if re.search(r'\b[a-z_]+\.[a-z_.]+,\s*\d+', m.get('Subject') or '')
    ]


def order_mail_with_pdf(sink, order_name):
    for message in sink.messages:
        if CUSTOMER_EMAIL not in message.get('To', '') or order_name not in message.get(
            'Subject', ''
        ):
            continue
        for part in message.iter_attachments():
            if part.get_content_type() == 'application/pdf' and part.get_content().startswith(
                b'%PDF'
            ):
                return message
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--serve', required=True)
    parser.add_argument('--database', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--timeout', type=int, default=1200, help="seconds to wait for the server")
    args = parser.parse_args()
    base_url = f'http://127.0.0.1:{args.port}'

    sink = SmtpSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    log_path = os.path.join(os.path.dirname(args.serve), '..', 'build', 'check-demo', 'serve.log')
    browser = None
    with open(log_path, 'w', encoding='utf-8') as log:
        gevent_port = free_port()
        server = start_server(args, sink.server_address[1], gevent_port, log)
        try:
            started = time.monotonic()
            wait_for_login_page(server, base_url, args.timeout)
            say(f"scripts/serve answers /web/login after {time.monotonic() - started:.0f} s")
            problem = check_websocket(gevent_port)
            if problem:
                raise RuntimeError(problem)
            say("the websocket process answers /websocket/health")
            odoo = Odoo(base_url)
            odoo.login(args.database, 'admin', 'admin')
            order, link = sell_in_installments(odoo)
            mailed_link = payment_link_of_mail(sink, odoo, order)
            if urlsplit(mailed_link)[2:4] != urlsplit(link)[2:4]:
                raise RuntimeError(f"the mail's link {mailed_link} is not the order's {link}")
            parts = urlsplit(mailed_link)
            url = f"{base_url}{parts.path}?{parts.query}&debug=tests"
            browser = Browser()
            browser.run_tour(url, TOUR)
            browser.screenshot(os.path.join(os.path.dirname(log_path), 'paid.png'))
            say("the customer paid the first installment by link in Chromium (tour passed)")
            order_name, problems = check_order_paid(odoo, order)
            deadline = time.monotonic() + 60
            mail = order_mail_with_pdf(sink, order_name)
            while not mail and time.monotonic() < deadline:
                time.sleep(2)
                mail = order_mail_with_pdf(sink, order_name)
            if mail:
                say(f"mail received by the customer: \"{mail['Subject']}\" with the order's PDF")
            else:
                subjects = [f"{m.get('To')}: {m.get('Subject')}" for m in sink.messages]
                problems.append(
                    f"no mail of {order_name} with its PDF reached the customer: {subjects}"
                )
            technical = technical_subjects(sink)
            if technical:
                problems.append(f"mails with a technical subject: {technical}")
            log.flush()
            logged = tracebacks(log_path)
            if logged:
                problems.append(
                    f"{len(logged)} traceback(s) in the server's log, the first:\n{logged[0]}"
                )
            if problems:
                raise RuntimeError('; '.join(problems))
            say(f"order {order_name}: confirmed, locked and paid; its plan runs on the saved card")
        except Exception as error:
            log.flush()
            with open(log_path, encoding='utf-8') as server_log:
                tail = server_log.read()[-4000:]
            sys.stderr.write(f"FAILED: {error}\n--- scripts/serve's log (end) ---\n{tail}\n")
            return 1
        finally:
            if browser:
                browser.close()
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
            sink.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())

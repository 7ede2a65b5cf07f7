-- Default method catalog of a fresh database: the INGENEO HR and payroll API.
-- `INSERT OR IGNORE` keeps any entry an administrator already edited.

INSERT OR IGNORE INTO api_methods (name, group_name, label_fr, label_en, description) VALUES
    ('employees.read', 'employees', 'Consulter les salariés', 'Read employees', 'Identity, contract and assignment of employees.'),
    ('employees.write', 'employees', 'Modifier les salariés', 'Update employees', 'Create and update employee records.'),
    ('organization.read', 'organization', 'Consulter l''organisation', 'Read the organization', 'Establishments, departments and positions.'),
    ('absences.read', 'absences', 'Consulter les absences', 'Read absences', 'Leave requests and absence balances.'),
    ('absences.write', 'absences', 'Déclarer des absences', 'Record absences', 'Create, approve and cancel absences.'),
    ('time.read', 'time', 'Consulter les temps', 'Read time records', 'Timesheets and worked hours.'),
    ('time.write', 'time', 'Saisir des temps', 'Record time', 'Submit timesheet entries.'),
    ('payroll.variables.read', 'payroll', 'Consulter les éléments variables de paie', 'Read payroll variables', 'Bonuses, overtime and other pay items of the period.'),
    ('payroll.variables.write', 'payroll', 'Saisir les éléments variables de paie', 'Record payroll variables', 'Submit pay items for the period.'),
    ('payroll.payslips.read', 'payroll', 'Consulter les bulletins de paie', 'Read payslips', 'Payslip documents and their amounts.'),
    ('payroll.accounting.read', 'payroll', 'Consulter les écritures comptables de paie', 'Read payroll accounting entries', 'Journal entries produced by the payroll.'),
    ('documents.read', 'documents', 'Consulter les documents', 'Read documents', 'Employee documents in the digital safe.'),
    ('documents.write', 'documents', 'Déposer des documents', 'Upload documents', 'Add documents to employee files.');
